"""材料初审 at the town/street office (PS-4, BJ 第十六条（二）).

Complete materials need a signed 授权书 covering every person to be verified (PR-1) and the
originals of 授权书、身份证、户口本 captured electronically (LOC-26); then the 委托书 is
issued. Incomplete materials are listed, and the applicant is told to complete them
within the policy's deadline (not completed in time: deemed withdrawn).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

MATERIAL_DECISIONS = {"complete": "材料齐全，出具委托书", "incomplete": "材料不全，告知限期补齐"}


@register
class StreetMaterialCheckForm(FormSchema):
    form_key = "street_material_check"
    title = "材料初审"

    decision = fields.String(
        required=True,
        validate=validate.OneOf(list(MATERIAL_DECISIONS), error="请选择材料是否齐全"),
        metadata={"label": "初审结论", "choices": MATERIAL_DECISIONS},
    )
    authorisation_complete = fields.Boolean(
        load_default=False,
        metadata={"label": "授权书已由全部核对对象签字按印",
                  "help": "共同生活家庭成员及赡（抚、扶）养义务人；无民事行为能力人由监护人代签"},
    )
    originals_captured = fields.Boolean(
        load_default=False,
        metadata={"label": "授权书、身份证、户口本原件已电子化采集",
                  "help": "使用高拍仪、身份证读卡器、指纹扫描设备采集原件"},
    )
    missing_items = fields.List(
        fields.String(validate=validate.Length(min=1, max=200, error="每项 1–200 字")),
        load_default=list,
        validate=validate.Length(max=30, error="最多 30 项"),
        metadata={"label": "需补齐的材料", "help": "一次性告知申请人需补齐的全部材料"},
    )
    remark = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注"},
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        items = [i.strip() for i in data.get("missing_items") or [] if i.strip()]
        errors: dict[str, list[str]] = {}
        if data.get("decision") == "complete":
            if not data.get("authorisation_complete"):
                errors["authorisation_complete"] = ["出具委托书前须确认授权书已由全部核对对象签署（先授权，后核对）"]
            if not data.get("originals_captured"):
                errors["originals_captured"] = ["出具委托书前须完成原件电子化采集"]
            if items:
                errors["missing_items"] = ["材料齐全时不应填写需补齐的材料"]
        elif data.get("decision") == "incomplete" and not items:
            errors["missing_items"] = ["材料不全时须列明需补齐的材料"]
        if errors:
            raise ValidationError(errors)
        data["missing_items"] = items
        data["remark"] = (data.get("remark") or "").strip() or None
