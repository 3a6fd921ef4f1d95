"""A review-type step: decide accept / return / terminate, with a reason unless accepting."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

DECISIONS = {"accept": "通过", "return": "退回", "terminate": "终止"}


@register
class ReviewForm(FormSchema):
    """Generic decision form; the task property ``allowedDecisions`` narrows the choices."""

    form_key = "review"
    title = "审核意见"

    decision = fields.String(
        required=True,
        validate=validate.OneOf(list(DECISIONS), error="请选择审核结论"),
        metadata={"label": "审核结论", "choices": DECISIONS},
    )
    reason = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "理由", "help": "退回或终止时必须填写理由"},
    )

    @validates_schema
    def _reason_unless_accept(self, data: dict[str, Any], **_: Any) -> None:
        allowed = [d.strip() for d in getattr(self, "context_properties", {}).get("allowedDecisions", "").split(",")
                   if d.strip()]
        decision = data.get("decision")
        if allowed and decision not in allowed:
            raise ValidationError("此步骤不允许该结论", "decision")
        reason = (data.get("reason") or "").strip()
        if decision != "accept" and not reason:
            raise ValidationError("退回或终止时必须填写理由", "reason")
        data["reason"] = reason or None
