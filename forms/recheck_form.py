"""复核表 (DO-8, PS-9, BJ 附件6): why an enrolled household is re-verified, filled by the initiating department.

The household's members, assistance type and 户籍 location come from the household itself
(``persons``), so they are never retyped or copied into workflow data; this form records
what only the initiator knows. ``notified_on`` is the date the household was told the
result: it decides whether an objection is still within the policy's window (PS-13).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

TRIGGERS = {
    "objection": "核对对象提出异议（告知之日起 30 日内）",
    "complaint": "群众投诉、举报",
    "home_visit": "入户调查与核对结果不符",
    "other": "其他原因",
}


@register
class RecheckForm(FormSchema):
    form_key = "recheck_form"
    title = "复核表"

    trigger = fields.String(
        required=True,
        validate=validate.OneOf(list(TRIGGERS), error="请选择复核启动情形"),
        metadata={"label": "复核启动情形", "choices": TRIGGERS},
    )
    requester_name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=50, error="1–50 字"),
        metadata={"label": "申请人（举报人、调查人）", "help": "匿名举报填写「匿名」"},
    )
    requested_on = fields.Date(required=True, metadata={"label": "申请（举报）日期"})
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000, error="1–2000 字"),
        metadata={"label": "复核原因", "help": "异议的内容、举报的事实或入户调查发现的情况"},
    )
    notified_on = fields.Date(
        load_default=None,
        metadata={"label": "告知核对结果日期", "help": "核对对象提出异议时填写；系统已记录告知日期的，以系统记录为准"},
    )

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        reason = (data.get("reason") or "").strip()
        if not reason:
            raise ValidationError("请填写复核原因", "reason")
        data["reason"] = reason
        data["requester_name"] = (data.get("requester_name") or "").strip()
        if not data["requester_name"]:
            raise ValidationError("此项为必填项", "requester_name")
        requested, notified = data.get("requested_on"), data.get("notified_on")
        if requested is not None and notified is not None and notified > requested:
            raise ValidationError("告知日期不能晚于申请日期", "notified_on")
        # workflow data stays JSON: dates travel as YYYY-MM-DD
        for key in ("requested_on", "notified_on"):
            if data.get(key) is not None:
                data[key] = data[key].isoformat()
