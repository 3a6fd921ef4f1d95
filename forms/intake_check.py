"""受理初审 (PS-2): accept the entrustment, or return it to the entrusting unit with the reason.

The two checks of JL 规程 三(一)1 are recorded explicitly: the paper entrustment
materials are in order and the subjects' personal data complete (then the electronic
package is imported), and the paper materials agree with the electronic package.
Accepting requires both; returning requires a reason. No eligibility verdict (PR-3).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.review import ReviewForm

INTAKE_DECISIONS = {"accept": "受理，转审核复审", "return": "退回委托单位"}


@register
class IntakeCheckForm(ReviewForm):
    """A review-type form (reason unless accepting, ``allowedDecisions`` honoured) plus the intake checks."""

    form_key = "intake_check"
    title = "受理初审"

    decision = fields.String(
        required=True,
        validate=validate.OneOf(list(INTAKE_DECISIONS), error="请选择受理或退回"),
        metadata={"label": "初审结论", "choices": INTAKE_DECISIONS},
    )
    reason = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "退回理由", "help": "退回委托单位时必须说明理由，理由将随退回通知送达委托单位"},
    )
    materials_complete = fields.Boolean(
        load_default=False,
        metadata={
            "label": "纸质委托材料规范、核对对象个人信息完整",
            "help": "委托书、授权书等纸质材料规范齐全，核对对象身份信息完整；符合要求后导入核对电子数据包",
        },
    )
    paper_electronic_consistent = fields.Boolean(
        load_default=False,
        metadata={"label": "纸质材料与电子数据包一致", "help": "导入的电子数据包与纸质委托材料逐项一致"},
    )

    @validates_schema
    def _checks_before_accepting(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("decision") != "accept":
            return
        errors = {}
        if not data.get("materials_complete"):
            errors["materials_complete"] = ["受理前须确认纸质材料规范、个人信息完整；否则请退回委托单位"]
        if not data.get("paper_electronic_consistent"):
            errors["paper_electronic_consistent"] = ["受理前须确认纸质材料与电子数据包一致；否则请退回委托单位"]
        if errors:
            raise ValidationError(errors)
