"""受理申请 (PS-4, BJ 第十六条（一）（二）): the town/street office records an application.

The applicant (or the village/residents' committee on their behalf, OR-4) applies; the
clerk guides the applicant through the 授权书 (先授权，后核对, PR-1). Only references
are recorded here: the household and its members live in their own tables.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema
from forms.household import BUSINESS_TYPES

SUBMITTERS = {"applicant": "申请人本人", "village_committee": "村（居）委会代为提交"}


@register
class StreetApplicationForm(FormSchema):
    form_key = "street_application"
    title = "受理核对申请"

    business_type = fields.String(
        required=True,
        validate=validate.OneOf(list(BUSINESS_TYPES), error="请选择救助业务类型"),
        metadata={"label": "救助业务类型", "choices": BUSINESS_TYPES},
    )
    submitted_by = fields.String(
        required=True,
        validate=validate.OneOf(list(SUBMITTERS), error="请选择申请提交方式"),
        metadata={"label": "申请提交方式", "choices": SUBMITTERS},
    )
    household_id = fields.Integer(
        required=True,
        validate=validate.Range(min=1, error="请选择已登记的家庭"),
        metadata={"label": "家庭", "help": "申请家庭在系统中的登记编号（家庭成员及赡养义务人随家庭登记）"},
    )
    authorisation_guided = fields.Boolean(
        required=True,
        metadata={"label": "已指导申请人填写《授权书》", "help": "先授权，后核对：未签署授权书的人员不得核对"},
    )
    remark = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注"},
    )

    @validates_schema
    def _authorisation_first(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("authorisation_guided") is False:
            raise ValidationError("受理申请时须指导申请人填写授权书（先授权，后核对）", "authorisation_guided")
        data["remark"] = (data.get("remark") or "").strip() or None
