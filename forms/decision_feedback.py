"""反馈救助审批结果 (PS-12, JL 规程 四): the entrusting unit reports its own assistance decision.

This is the social-assistance department's decision on the household, recorded so the
verification agency gets the feedback the Jilin monthly cycle asks for (statistics, 复核).
The verification system itself never decides eligibility (PR-3): this form belongs to the
entrusting unit's lane and only records what that unit decided.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

ASSISTANCE_DECISIONS = {
    "approved": "批准救助",
    "refused": "不予批准",
    "other": "其他（如申请人撤回、转其他救助，须说明）",
}


@register
class DecisionFeedbackForm(FormSchema):
    form_key = "decision_feedback"
    title = "反馈救助审批结果"

    assistance_decision = fields.String(
        required=True,
        validate=validate.OneOf(list(ASSISTANCE_DECISIONS), error="请选择救助审批结果"),
        metadata={"label": "救助审批结果（委托单位决定）", "choices": ASSISTANCE_DECISIONS},
    )
    decided_on = fields.Date(
        required=True,
        metadata={"label": "审批日期"},
    )
    decision_document_no = fields.String(
        load_default=None,
        validate=validate.Length(max=100, error="不超过 100 字"),
        metadata={"label": "审批文号"},
    )
    note = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "说明", "help": "选择“其他”时必须说明"},
    )
    #: optional (absent when not given): when the household was told the result (PS-13); an objection
    #: is accepted within the policy's window from this date (engine.services.rechecks)
    notified_on = fields.Date(
        metadata={"label": "告知核对对象日期",
                  "help": "告知家庭审批及核对结果的日期；家庭可在告知之日起 30 日内提出异议"},
    )

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        note = (data.get("note") or "").strip() or None
        if data.get("assistance_decision") == "other" and note is None:
            raise ValidationError("选择“其他”时必须说明", "note")
        data["note"] = note
        data["decision_document_no"] = (data.get("decision_document_no") or "").strip() or None
        if data.get("decided_on") is not None and data.get("notified_on") is not None \
                and data["notified_on"] < data["decided_on"]:
            raise ValidationError("告知日期不能早于审批日期", "notified_on")
        for key in ("decided_on", "notified_on"):
            if data.get(key) is not None:
                # workflow data stays JSON: the date travels as YYYY-MM-DD
                data[key] = data[key].isoformat()
