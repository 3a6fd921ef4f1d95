"""接收补正材料 (PS-4): the applicant brought the missing materials within the deadline."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema


@register
class MaterialsSupplementedForm(FormSchema):
    form_key = "materials_supplemented"
    title = "接收补正材料"

    supplemented_items = fields.List(
        fields.String(validate=validate.Length(min=1, max=200, error="每项 1–200 字")),
        required=True,
        validate=validate.Length(min=1, max=30, error="须列明 1–30 项已补齐的材料"),
        metadata={"label": "已补齐的材料", "help": "补齐后重新进行材料初审"},
    )
    remark = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注"},
    )

    @validates_schema
    def _not_blank(self, data: dict[str, Any], **_: Any) -> None:
        items = [i.strip() for i in data.get("supplemented_items") or [] if i.strip()]
        if not items:
            raise ValidationError("须列明已补齐的材料", "supplemented_items")
        data["supplemented_items"] = items
        data["remark"] = (data.get("remark") or "").strip() or None
