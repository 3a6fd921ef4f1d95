"""失信登记 (AU-3; JL 第十三条, 第二十条): what a civil-affairs officer states when proposing a record.

The person, the case and the registering department come from the case and the signed-in
officer; this form records the finding: the reason, the facts, the legal basis, the period
and the evidence numbers. Pure: the service checks the dates against the engine's clock.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import ROW_ID
from forms.base import FormSchema

REASONS = {
    "hid_income": "隐瞒收入",
    "hid_property": "隐瞒财产",
    "false_statement": "不如实提供相关情况（虚假陈述）",
    "other": "其他",
}
DEFAULT_LEGAL_BASIS = "《吉林省社会救助家庭经济状况核对办法》第十三条、第二十条"
#: the longest period a record may run (the department decides within it)
MAX_YEARS = 5


@register
class CreditRecordForm(FormSchema):
    form_key = "credit_record"
    title = "失信登记"

    person_id = fields.Integer(required=True, validate=ROW_ID, metadata={"label": "登记对象"},
                               error_messages={"required": "请选择登记对象", "invalid": "请选择登记对象"})
    reason = fields.String(required=True, validate=validate.OneOf(list(REASONS), error="请选择失信情形"),
                           metadata={"label": "失信情形", "choices": REASONS},
                           error_messages={"required": "请选择失信情形"})
    reason_detail = fields.String(required=True, validate=validate.Length(max=2000, error="不超过 2000 字"),
                                  metadata={"label": "查实情况", "help": "隐瞒的收入或财产、金额、查实经过"},
                                  error_messages={"required": "请填写查实情况"})
    legal_basis = fields.String(load_default=DEFAULT_LEGAL_BASIS,
                                validate=validate.Length(max=500, error="不超过 500 字"),
                                metadata={"label": "法律依据"})
    valid_from = fields.Date(required=True, metadata={"label": "登记期限起"},
                             error_messages={"required": "请填写登记期限起始日期"})
    valid_to = fields.Date(required=True, metadata={"label": "登记期限止"},
                           error_messages={"required": "请填写登记期限终止日期"})
    report_no = fields.String(load_default=None, validate=validate.Length(max=100, error="不超过 100 字"),
                              metadata={"label": "核对报告编号"})
    recheck_no = fields.String(load_default=None, validate=validate.Length(max=60, error="不超过 60 字"),
                               metadata={"label": "复核编号"})

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        for name in ("reason_detail", "legal_basis", "report_no", "recheck_no"):
            if isinstance(data.get(name), str):
                data[name] = data[name].strip() or None
        if not data.get("reason_detail"):
            raise ValidationError("请填写查实情况", "reason_detail")
        if not data.get("legal_basis"):
            data["legal_basis"] = DEFAULT_LEGAL_BASIS
        start, end = data.get("valid_from"), data.get("valid_to")
        if start and end and end < start:
            raise ValidationError("终止日期不能早于起始日期", "valid_to")
        if start and end and end > years_later(start, MAX_YEARS):
            raise ValidationError(f"登记期限最长 {MAX_YEARS} 年", "valid_to")


def years_later(day: date, years: int) -> date:
    """The same day ``years`` later (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
