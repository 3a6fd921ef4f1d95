"""The list of issued reports (核对报告 and 复核报告): who reads it, its filters and its pages (DO-7, DO-8, OR-3).

Readers are the report officers, supervisors and auditors (:data:`REPORT_READERS`). What each sees is
the case jurisdiction (OR-3, ``engine.assignment.visible_instances``) of their memberships in those
roles only, as the registers follow their reading roles (``engine.services.register_scope``): a report
officer of one county agency sees nothing of another county's, a city agency's sees its counties',
an auditor sees the regions of its auditing units. A report belongs to the case it was issued in
(for a 复核报告, the recheck's own case; for an upper agency's part, the upper case), so each row's
report page is one the reader may open.

Rows come newest first (in order of issue); applicants and successors are batch-loaded for a page.
An auditor's read is recorded in the access log (SEC-12, AU-1) with the cases listed, as a search
by ID number is; the free text is left out of the record (it may be a name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import aliased

from engine.assignment import Memberships
from engine.assignment import load_memberships
from engine.assignment import visible_instances
from engine.clock import LOCAL_TZ
from engine.context import Actor
from engine.context import EngineContext
from engine.history import append_system_event
from engine.models import Person
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.models.report import Report
from engine.reports.service import REPORT_STATE_NAMES
from engine.reports.service import ReportState
from engine.reports.service import is_expired
from engine.reports.service import superseded_by
from engine.services.cases import applicants_of
from forms.ids import mask_id

#: the roles that read the list of issued reports of their jurisdiction
REPORT_READERS = frozenset({"report_officer", "supervisor", "auditor"})
#: a report's state as the list filters it (``ReportState.label``; the API's values are the keys)
STATE_NAMES = REPORT_STATE_NAMES
#: the longest free text searched (a report number is at most 60 characters, as a case number)
TEXT_MAX = 60


@dataclass(frozen=True)
class ReportFilter:
    """What the reader asked for; ``None`` is "any"."""

    #: issued on these Beijing dates (both included)
    issued_from: date | None = None
    issued_to: date | None = None
    #: a key of :data:`STATE_NAMES`
    state: str | None = None
    #: ``verification`` or ``reverification``
    kind: str | None = None
    #: part of the report number, the case number or the applicant's name
    text: str | None = None

    def describe(self) -> dict[str, Any]:
        """The filters as the access record states them, without the free text (it may be a person's name)."""
        return {"issued_from": self.issued_from.isoformat() if self.issued_from else None,
                "issued_to": self.issued_to.isoformat() if self.issued_to else None,
                "state": self.state, "kind": self.kind, "text_given": bool(self.text)}


@dataclass(frozen=True)
class ReportRow:
    """One line of the list: the report with its state, its applicant (ID number masked) and its agency."""

    state: ReportState
    applicant_name: str | None
    applicant_id: str | None
    agency_name: str

    @property
    def report(self) -> Report:
        return self.state.report


@dataclass(frozen=True)
class Reader:
    """A user reading the list, with their memberships in a reading role only (their jurisdiction here)."""

    user_id: int
    held: Memberships


def reader(ctx: EngineContext, user_id: int) -> Reader | None:
    """The user as a reader of the list (memberships read once per request), None without a reading role."""
    held = Memberships(tuple(row for row in load_memberships(ctx, user_id).rows if row[1] in REPORT_READERS))
    return Reader(user_id, held) if held.rows else None


def _select(ctx: EngineContext, who: Reader, f: ReportFilter) -> Select[Any]:
    """Reports in the reader's jurisdiction, filtered (no order, no limit)."""
    cases = select(WorkflowInstance.id).where(visible_instances(ctx, who.user_id, memberships=who.held))
    query = select(Report).where(Report.instance_id.in_(cases))
    for condition in _conditions(ctx, f):
        query = query.where(condition)
    return query


def _conditions(ctx: EngineContext, f: ReportFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.issued_from is not None:
        out.append(Report.issued_at >= datetime.combine(f.issued_from, time(), LOCAL_TZ))
    if f.issued_to is not None:
        out.append(Report.issued_at < datetime.combine(f.issued_to + timedelta(days=1), time(), LOCAL_TZ))
    if f.kind:
        out.append(Report.kind == f.kind)
    if f.state:
        successor = aliased(Report)
        replaced = exists(select(successor.id).where(successor.supersedes_id == Report.id))
        today = ctx.today()
        out.append({"superseded": replaced, "expired": not_(replaced) & (Report.valid_until < today),
                    "valid": not_(replaced) & (Report.valid_until >= today)}[f.state])
    if f.text:
        named = select(Person.household_id).where(Person.relation == "self",
                                                  Person.name.contains(f.text, autoescape=True))
        out.append(or_(Report.number.contains(f.text, autoescape=True),
                       Report.case_no.contains(f.text.upper(), autoescape=True), Report.household_id.in_(named)))
    return out


def count_reports(ctx: EngineContext, who: Reader, f: ReportFilter) -> int:
    query = _select(ctx, who, f)
    return int(ctx.session.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def list_reports(ctx: EngineContext, who: Reader, f: ReportFilter, *, offset: int = 0, limit: int = 20,
                 before_id: int | None = None) -> tuple[list[ReportRow], int | None]:
    """One page of the reports the user reads, newest first: ``(rows, cursor of the next page or None)``.

    :param offset: the numbered pages' start (the web list); ``before_id``: the API's cursor.
    """
    query = _select(ctx, who, f)
    if before_id is not None:
        query = query.where(Report.id < before_id)
    reports = list(ctx.session.execute(query.order_by(Report.id.desc()).offset(offset).limit(limit + 1)).scalars())
    more = reports[limit - 1].id if len(reports) > limit else None
    return _rows(ctx, reports[:limit]), more


def _rows(ctx: EngineContext, reports: list[Report]) -> list[ReportRow]:
    """The page's rows with their state today, applicant and agency: three queries whatever the page size."""
    successors = superseded_by(ctx.session, [r.id for r in reports]) if reports else {}
    applicants = applicants_of(ctx, [r.case_no for r in reports])
    agencies = dict(ctx.session.execute(select(Unit.id, Unit.name).where(
        Unit.id.in_({r.agency_unit_id for r in reports}))).all()) if reports else {}
    today = ctx.today()
    rows = []
    for r in reports:
        name, number = applicants.get(r.case_no, (None, None))
        rows.append(ReportRow(ReportState(r, is_expired(r, today), successors.get(r.id)), name,
                              mask_id(number) if number else None, agencies.get(r.agency_unit_id, "")))
    return rows


def record_read(ctx: EngineContext, who: Reader, actor: Actor, rows: list[ReportRow], f: ReportFilter, *,
                via: str) -> None:
    """An auditor's read of the list goes to the access log (SEC-12): the cases listed, never an ID number."""
    if not who.held.is_auditor:
        return
    case_nos = sorted({row.report.case_no for row in rows})
    append_system_event(ctx, kind="personal_data_viewed", actor=Actor(actor.username, "auditor", actor.user_id),
                        payload={"via": via, "page": "reports", "results": len(rows), "case_nos": case_nos,
                                 "filters": f.describe()})
