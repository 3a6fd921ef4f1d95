"""转送县级 (PS-7): the city agency relays the province's reports to the counties that asked."""

from __future__ import annotations

from typing import Any

from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from forms import register
from forms.base import FormSchema


@register
class CrossCityRelayForm(FormSchema):
    form_key = "cross_city_relay"
    title = "转送县级核对机构"

    note = fields.String(
        load_default=None,
        validate=validate.Length(max=500, error="不超过 500 字"),
        metadata={"label": "转送说明", "help": "随省级核对报告转送原核对机构的说明（可不填）"},
    )

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["note"] = (data.get("note") or "").strip() or None
        return data
