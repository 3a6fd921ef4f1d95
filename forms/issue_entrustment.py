"""出具委托书 (PS-4, BJ 第十六条（三）, DO-5): the town/street office entrusts the county agency.

The letter reads "×××等××户××人"; the entrusting unit, contact and seal come from the
organisation data, the number and the count of persons are recorded here.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema
from forms.issue_report import REPORT_NO


@register
class IssueEntrustmentForm(FormSchema):
    form_key = "issue_entrustment"
    title = "出具委托书"

    entrustment_no = fields.String(
        required=True,
        validate=validate.Regexp(REPORT_NO, error="委托书编号格式应如「红民委〔2026〕12号」或「HQ-2026-00012」"),
        metadata={"label": "委托书编号", "help": "文号式（单位简称〔年份〕序号号）或系统编号（单位代码-年份-序号）"},
    )
    person_count = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=100, error="须为 1–100 的整数"),
        metadata={"label": "核对对象人数", "help": "共同生活家庭成员及赡（抚、扶）养义务人"},
    )
    remark = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注"},
    )

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        data["remark"] = (data.get("remark") or "").strip() or None
