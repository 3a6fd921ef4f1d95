"""发起数据交换: the first exchange officer checks the batch before the requests go out.

With ``confirm_exchange`` (a second, different officer: ``dualControl``) this makes every
exchange a two-person operation (SD-2, JL 规程 五(二)). Requests carry only what the units
need to look the subjects up (DX-4); the subject list and units come from the case.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema


@register
class ExchangePrepareForm(FormSchema):
    form_key = "exchange_prepare"
    title = "发起数据交换"

    batch_checked = fields.Boolean(
        required=True,
        metadata={
            "label": "已核对核对对象名单与拟交换的信息共享单位",
            "help": "交换请求只含查询所需的核对对象信息；介质交换的，已写入加密介质",
        },
    )
    remark = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注"},
    )

    @validates_schema
    def _must_check(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("batch_checked") is not True:
            raise ValidationError("须先核对核对对象名单与交换单位后再发起交换", "batch_checked")
        data["remark"] = (data.get("remark") or "").strip() or None
