"""审核复审 of a verification case: the review decision, plus what goes to the upper agencies.

- ``upper_items`` (上下分级核对, JL 规程 三, PS-5): which of the case's upper-level items (sharing
  units only an upper agency reaches) the upper agencies check. Omitted: every one the case's
  configuration lists (the page pre-fills them); listed ones not chosen are dropped from the case.
- ``cross_city_items`` + ``cross_city_reason`` (跨地市核对, PS-7): sharing units of another city,
  gathered by the city agency and entrusted to the province; the reason says why and where the
  data is held.

The engine checks the codes against the case (``engine.services.tiering``); this form checks
their shape. Only an accepted review sends anything upward.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.review import ReviewForm


def _code() -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=40, error="单位代码为 1–40 个字符"))


@register
class VerificationReviewForm(ReviewForm):
    form_key = "verification_review"
    title = "审核复审意见"

    upper_items = fields.List(
        _code(), load_default=None, allow_none=True,
        metadata={"label": "由上级核对机构核对的事项",
                  "help": "未勾选的上级事项本案不再核对；不填写时按本案配置全部委托上级"},
    )
    cross_city_items = fields.List(
        _code(), load_default=list,
        metadata={"label": "跨地市核对事项",
                  "help": "需由其他地市信息共享单位提供的数据，经市级核对机构汇总后委托省级核对机构"},
    )
    cross_city_reason = fields.String(
        load_default=None,
        validate=validate.Length(max=500, error="不超过 500 字"),
        metadata={"label": "跨地市核对理由", "help": "说明需跨地市核对的原因及数据所在地"},
    )

    @validates_schema
    def _upward(self, data: dict[str, Any], **_: Any) -> None:
        upper, cross = data.get("upper_items"), data.get("cross_city_items") or []
        reason = (data.get("cross_city_reason") or "").strip()
        data["cross_city_reason"] = reason or None
        errors: dict[str, list[str]] = {}
        if upper is not None and len(set(upper)) != len(upper):
            errors["upper_items"] = ["上级核对事项不能重复"]
        if len(set(cross)) != len(cross):
            errors["cross_city_items"] = ["跨地市核对事项不能重复"]
        elif upper and set(upper) & set(cross):
            errors["cross_city_items"] = ["同一事项不能既由上级核对又跨地市核对"]
        if cross and not reason:
            errors["cross_city_reason"] = ["提出跨地市核对时必须说明理由"]
        if reason and not cross:
            errors["cross_city_reason"] = ["未选择跨地市核对事项，无需填写理由"]
        if data.get("decision") != "accept" and (upper or cross):
            errors["decision"] = ["只有审核通过时才能委托上级或跨地市核对"]
        if errors:
            raise ValidationError(errors)
