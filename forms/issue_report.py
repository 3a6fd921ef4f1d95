"""出具核对报告 (DO-7): completing this task issues the report (engine/reports/service.py).

The system numbers the report per agency and year (朝阳核字〔2026〕第0001号); ``report_no`` is
optional and only records the agency's own document reference if it uses one besides.

The report states economic facts only (PR-3: 只核对，不认定); this form has, and
must never get, a field that records whether the household is eligible.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

#: 朝核报〔2026〕17号 (document-number style), or CY-2026-00017 (system style)
REPORT_NO = re.compile(r"^(?:[\u4e00-\u9fff]{1,10}〔\d{4}〕\d{1,6}号|[A-Z]{2,10}-\d{4}-\d{3,8})\Z")


@register
class IssueReportForm(FormSchema):
    form_key = "issue_report"
    title = "出具核对报告"

    report_no = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(REPORT_NO, error="报告编号格式应如「朝核报〔2026〕17号」或「CY-2026-00017」"),
        metadata={"label": "本机构发文文号（可选）",
                  "help": "报告编号由系统按机构和年度自动生成；本机构另有发文文号时填写，如「朝核报〔2026〕17号」"},
    )
    remarks = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注", "help": "如未反馈的信息共享单位、需委托单位注意的事项；报告仅供参考，不作资格认定"},
    )

    @pre_load
    def _blank_reference(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("report_no"), str) and not data["report_no"].strip():
            data = {**data, "report_no": None}
        return data

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        data["remarks"] = (data.get("remarks") or "").strip() or None
