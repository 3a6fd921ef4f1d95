"""逾期补报救助审批结果 (PS-12, PS-10): the decision feedback after its due date, with the reason."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.decision_feedback import DecisionFeedbackForm


@register
class DecisionFeedbackLateForm(DecisionFeedbackForm):
    form_key = "decision_feedback_late"
    title = "逾期补报救助审批结果"

    late_reason = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "逾期原因"},
    )

    @validates_schema
    def _reason_for_lateness(self, data: dict[str, Any], **_: Any) -> None:
        reason = (data.get("late_reason") or "").strip()
        if not reason:
            raise ValidationError("逾期反馈须说明逾期原因", "late_reason")
        data["late_reason"] = reason
