"""The case pages' forms: search, unmasking an ID number, uploading and importing a data package."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms.base import ROW_ID
from web.home.schemas import HtmlFormSchema
from web.home.schemas import text

#: why someone searches by ID number (recorded with every search)
SEARCH_PURPOSES = {
    "duplicate_check": "核实是否已有在办案件（查重）",
    "intake_review": "受理初审核实申请材料",
    "enquiry": "答复核对对象或委托单位的查询",
    "supervision": "监督检查",
    "other": "其他（请说明）",
}
#: why someone needs a full ID number (recorded with every unmasking)
UNMASK_PURPOSES = {
    "paper_check": "与纸质授权书或身份证件比对",
    "exchange": "数据交换核实身份",
    "correction": "核实、更正录入错误",
    "enquiry": "答复核对对象的查询",
    "other": "其他（请说明）",
}
#: an 18-character resident ID number (the check character is verified separately)
ID_SHAPE = re.compile(r"^\d{17}[\dXx]$")


def looks_like_id_number(value: str) -> bool:
    return bool(ID_SHAPE.match(value.strip()))


class _PurposeSchema(HtmlFormSchema):
    note = text(200, required=False)

    @validates_schema
    def _other_needs_a_note(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("purpose") == "other" and not data.get("note"):
            raise MarshmallowError("选择「其他」时请说明用途", field_name="note")


class CaseSearchSchema(_PurposeSchema):
    q = fields.String(required=True, validate=validate.Length(max=60, error="不能超过 60 个字符"))
    purpose = fields.String(load_default=None, validate=validate.OneOf(list(SEARCH_PURPOSES),
                                                                       error="请从列表中选择查询用途"))
    #: 仅显示逾期: only cases still open past their statutory deadline (PS-10)
    overdue_only = fields.Boolean(load_default=False, truthy={"yes"}, falsy={"no"})

    @validates_schema
    def _id_search_needs_a_purpose(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if looks_like_id_number(data.get("q") or "") and not data.get("purpose"):
            raise MarshmallowError("按身份证号码查询须选择查询用途（查询将被记录）", field_name="purpose")


class UnmaskSchema(_PurposeSchema):
    purpose = fields.String(required=True, validate=validate.OneOf(list(UNMASK_PURPOSES),
                                                                   error="请从列表中选择查看用途"),
                            error_messages={"required": "请从列表中选择查看用途"})
    person_id = fields.Integer(load_default=None, validate=ROW_ID)


class ImportRunSchema(HtmlFormSchema):
    accept_valid_rows = fields.Boolean(load_default=False, truthy={"yes"}, falsy={"no"})
