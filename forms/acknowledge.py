"""A step that only needs to be confirmed, with an optional remark."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from forms import register
from forms.base import FormSchema


@register
class AcknowledgeForm(FormSchema):
    form_key = "acknowledge"
    title = "确认办理"

    remark = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注"},
    )
