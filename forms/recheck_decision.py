"""决定是否复核 (PS-9): the county social-assistance department decides, and whom it entrusts.

Re-verifying means issuing a 复核委托书 to the county or the city verification agency
(BJ 第十七条（二）); declining needs a reason, which is recorded with the 复核表.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

DECISIONS = {"recheck": "同意复核，出具复核委托书", "decline": "不予复核"}
AGENCY_LEVELS = {"county": "县级核对机构", "city": "市级核对机构"}


@register
class RecheckDecisionForm(FormSchema):
    form_key = "recheck_decision"
    title = "决定是否复核"

    decision = fields.String(
        required=True,
        validate=validate.OneOf(list(DECISIONS), error="请选择是否复核"),
        metadata={"label": "决定", "choices": DECISIONS},
    )
    agency_level = fields.String(
        load_default=None,
        validate=validate.OneOf(list(AGENCY_LEVELS), error="请选择受托核对机构"),
        metadata={"label": "受托核对机构", "choices": AGENCY_LEVELS, "help": "同意复核时必选"},
    )
    reason = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "理由", "help": "不予复核时必须填写"},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        reason = (data.get("reason") or "").strip() or None
        if data.get("decision") == "decline" and reason is None:
            raise ValidationError("不予复核时必须填写理由", "reason")
        if data.get("decision") == "recheck" and not data.get("agency_level"):
            raise ValidationError("同意复核时须选择受托核对机构", "agency_level")
        if data.get("decision") == "decline":
            data["agency_level"] = None
        data["reason"] = reason
