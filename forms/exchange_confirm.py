"""确认数据交换结果: a second exchange officer confirms the status every sharing unit returned.

Only the statuses (已反馈 / 未反馈) and result ids are in the workflow; the results
themselves are in the exchange tables. The step is declared ``dualControl`` against
``prepare_exchange`` in the diagram, so whoever sent the requests cannot confirm (SD-2).
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
class ExchangeConfirmForm(FormSchema):
    form_key = "exchange_confirm"
    title = "确认数据交换结果"

    statuses_checked = fields.Boolean(
        required=True,
        metadata={
            "label": "已逐一核对各信息共享单位的反馈状态",
            "help": "逐一核对已反馈、未反馈（含书面延期后仍未反馈）的单位；未反馈的单位将在核对报告中注明",
        },
    )
    remark = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注", "help": "如有未反馈单位，可说明已采取的催办措施"},
    )

    @validates_schema
    def _must_confirm(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("statuses_checked") is not True:
            raise ValidationError("须先核对各单位的反馈状态后再确认", "statuses_checked")
        data["remark"] = (data.get("remark") or "").strip() or None
