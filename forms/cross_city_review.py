"""市级审核 of a cross-city batch (PS-7, BJ 第十八条): each request accepted, or refused with a reason.

The city agency reviews the requests its counties raised. Every request not listed under
``refused`` is accepted and entrusted to the province in one 委托书; a refused one goes back
to the county at once with its reason. One line per refused request: ``编号 理由`` (a space
or a colon between them), so the same form works in the browser and through the API.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

_LINE = re.compile(r"^\s*(?P<number>[A-Za-z0-9][A-Za-z0-9-]*)\s*[:：\s]\s*(?P<reason>\S.*?)\s*$")
MAX_REASON = 500


def parse_refusal(line: str) -> tuple[str, str] | None:
    """``(number, reason)`` from one line, or None when it does not read ``编号 理由``."""
    match = _LINE.match(line)
    if match is None:
        return None
    return match["number"], match["reason"]


@register
class CrossCityReviewForm(FormSchema):
    form_key = "cross_city_review"
    title = "市级审核跨地市核对请求"

    refused = fields.List(
        fields.String(validate=validate.Length(max=MAX_REASON + 60, error="每行不超过 560 字")),
        load_default=list,
        metadata={"label": "不同意的请求",
                  "help": "每行一项：请求编号 + 空格 + 不同意的理由；未列出的请求均同意并委托省级核对机构"},
    )
    note = fields.String(
        load_default=None,
        validate=validate.Length(max=500, error="不超过 500 字"),
        metadata={"label": "审核意见"},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        seen: set[str] = set()
        for i, line in enumerate(data.get("refused") or []):
            parsed = parse_refusal(line)
            if parsed is None:
                raise ValidationError(f"第 {i + 1} 行应写作「请求编号 理由」，不同意须说明理由", "refused")
            number, reason = parsed
            if len(reason) > MAX_REASON:
                raise ValidationError(f"第 {i + 1} 行的理由不超过 {MAX_REASON} 字", "refused")
            if number in seen:
                raise ValidationError(f"请求 {number} 重复列出", "refused")
            seen.add(number)

    @post_load
    def _refusals(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        pairs = [parse_refusal(line) for line in data.pop("refused", None) or []]
        data["refusals"] = [{"number": number, "reason": reason} for number, reason in filter(None, pairs)]
        data["note"] = (data.get("note") or "").strip() or None
        return data
