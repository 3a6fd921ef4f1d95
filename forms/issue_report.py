"""出具核对报告 (DO-7): record the report's number and remarks.

The report states economic facts only (PR-3: 只核对，不认定); this form has, and
must never get, a field that records whether the household is eligible.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import fields
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
        required=True,
        validate=validate.Regexp(REPORT_NO, error="报告编号格式应如「朝核报〔2026〕17号」或「CY-2026-00017」"),
        metadata={"label": "核对报告编号", "help": "文号式（机构简称〔年份〕序号号）或系统编号（机构代码-年份-序号）"},
    )
    remarks = fields.String(
        load_default=None,
        validate=validate.Length(max=2000, error="不超过 2000 字"),
        metadata={"label": "备注", "help": "如未反馈的信息共享单位、需委托单位注意的事项；报告仅供参考，不作资格认定"},
    )

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        data["remarks"] = (data.get("remarks") or "").strip() or None
