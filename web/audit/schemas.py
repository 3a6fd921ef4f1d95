"""The audit pages' inputs: why an auditor unmasks a case, and the access log's filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from engine.audit_access import ACCESS_KINDS
from engine.audit_access import AccessFilter
from engine.calendar import SHANGHAI
from forms.base import whole_number
from web.home.schemas import HtmlFormSchema
from web.home.schemas import text

#: why an auditor needs full ID numbers (recorded with every unmasking)
AUDIT_UNMASK_PURPOSES = {
    "supervision": "监督检查",
    "complaint": "核查投诉、举报",
    "other": "其他（请说明）",
}


class AuditUnmaskSchema(HtmlFormSchema):
    purpose = fields.String(required=True, validate=validate.OneOf(list(AUDIT_UNMASK_PURPOSES),
                                                                   error="请从列表中选择查看用途"),
                            error_messages={"required": "请从列表中选择查看用途"})
    note = text(200, required=False)

    @validates_schema
    def _other_needs_a_note(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("purpose") == "other" and not data.get("note"):
            raise MarshmallowError("选择「其他」时请说明用途", field_name="note")


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def access_filter(args: Mapping[str, str]) -> tuple[AccessFilter, dict[str, str]]:
    """The access log's filter from the query string (bad values are ignored, never an error page)."""
    kind = args.get("kind") or None
    since, until = _day(args.get("since")), _day(args.get("until"))
    f = AccessFilter(
        kind=kind if kind in ACCESS_KINDS else None,
        actor=(args.get("actor") or "").strip() or None,
        case=(args.get("case") or "").strip() or None,
        since=datetime.combine(since, time.min, SHANGHAI) if since else None,
        until=datetime.combine(until + timedelta(days=1), time.min, SHANGHAI) if until else None,
    )
    shown = {"kind": f.kind or "", "actor": f.actor or "", "case": f.case or "",
             "since": since.isoformat() if since else "", "until": until.isoformat() if until else ""}
    return f, shown


def page_number(raw: str | None) -> int:
    number = whole_number(raw or "", most=99_999)
    return number if number else 1
