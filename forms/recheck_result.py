"""登记复核结果 (PS-9, DO-8 "复核结果"): the department records what the re-verification found.

Facts only (PR-3): the 复核报告 states the economic situation; whether assistance changes is
the department's own later decision, recorded elsewhere (PS-12), never here.
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
class RecheckResultForm(FormSchema):
    form_key = "recheck_result"
    title = "登记复核结果"

    result = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000, error="1–2000 字"),
        metadata={"label": "复核结果", "help": "复核核对查明的经济状况及与原核对结果的差异；不作资格认定"},
    )
    report_no = fields.String(
        load_default=None,
        validate=validate.Length(max=100, error="不超过 100 字"),
        metadata={"label": "复核报告编号"},
    )

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        result = (data.get("result") or "").strip()
        if not result:
            raise ValidationError("请填写复核结果", "result")
        data["result"] = result
        data["report_no"] = (data.get("report_no") or "").strip() or None
