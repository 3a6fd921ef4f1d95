"""Issue, number, supersede and list reports; say whether a report is still valid (DO-7, DO-10, LOC-27).

A report is issued when the 出具核对报告 task completes, in the same transaction
(``engine.services.instances.complete_task`` calls :func:`issue_for_instance`). Its 编号 is
``<区划简称>核字〔<年>〕第<NNNN>号`` (e.g. 朝阳核字〔2026〕第0001号): the agency's region name without
its level suffix, the Beijing year of issue, and a gap-free sequence per agency and year taken
from ``case_counters`` (kind ``report``) under a row lock, as case numbers are. A correction is a
new report (new number) whose ``supersedes_id`` names the old one; the old row never changes.

In the linked case of an individual recheck (个案复核, PS-9) the report issued is a 复核报告 (DO-8):
``kind = reverification``, the 复核表's trigger, and the differences from the original case's current
report; the original case lists it (:func:`reports_with_rechecks`). When the recheck's case sent items
upward (上下分级核对, PS-5), each upper agency's case issues its own 复核报告 for its items.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from engine.archives.seal import canonical
from engine.archives.seal import sha256
from engine.calendar import SHANGHAI
from engine.context import Actor
from engine.context import EngineContext
from engine.documents.pdf import Stamp
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Escalation
from engine.models import Region
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.models.recheck import TRIGGER_NAMES
from engine.models.recheck import Recheck
from engine.models.report import Report
from engine.models.report import ReportKind
from engine.policy import effective_policy
from engine.reports import content as report_content
from engine.reports.render import report_pdf
from engine.services.cases import next_counter_value

ISSUE_TASK = "issue_report"
#: a page object in ReportLab's output (``/Type /Page``, not the ``/Pages`` tree)
_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")
_SUFFIXES = ("自治县", "自治州", "特别行政区", "新区", "省", "市", "区", "县", "旗", "盟", "州")


def region_short_name(name: str) -> str:
    """朝阳区 -> 朝阳, 长春市 -> 长春, 宝鸡市 -> 宝鸡 (the 机关代字 of the 编号)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def report_number(short: str, year: int, seq: int) -> str:
    return f"{short}核字〔{year}〕第{seq:04d}号"


def contents(report: Report) -> dict[str, Any]:
    return dict(json.loads(report.content))


def issue_for_instance(ctx: EngineContext, instance: WorkflowInstance, data: Mapping[str, Any], *,
                       actor: Actor) -> Report | None:
    """Issue the report of the case whose 出具核对报告 task was just completed (None: no household to report on).

    Instances started without an entrustment (bare engine tests, designer sandboxes) have nothing
    to report on; every real case has its household.
    """
    household = ctx.session.execute(select(Household).where(Household.case_no == instance.business_key)
                                    .options(selectinload(Household.persons))).scalar_one_or_none()
    if household is None or instance.business_key is None:
        return None
    recheck = recheck_of(ctx, household)
    if recheck is None:
        return issue_report(ctx, household, actor=actor, remarks=data.get("remarks"),
                            agency_ref=data.get("report_no"))
    # the linked case of a 个案复核: a 复核报告 with the 复核表's trigger, compared with the original case's report
    original = current_report(ctx, recheck.original_household.case_no)
    return issue_report(ctx, household, actor=actor, remarks=data.get("remarks"), agency_ref=data.get("report_no"),
                        kind=ReportKind.REVERIFICATION, trigger=recheck_trigger(recheck),
                        original=original.report if original else None)


def recheck_of(ctx: EngineContext, household: Household) -> Recheck | None:
    """The individual recheck whose 复核委托书 started ``household``'s case (None for an ordinary case).

    An upper agency's case checking part of a recheck's case (上下分级核对, PS-5) belongs to that
    recheck too: each level issues its own 复核报告 for what it checked.
    """
    recheck = ctx.session.execute(select(Recheck).where(Recheck.verification_household_id == household.id)
                                  ).scalar_one_or_none()
    if recheck is not None:
        return recheck
    return ctx.session.execute(select(Recheck).join(Escalation, Escalation.origin_household_id
                                                    == Recheck.verification_household_id)
                               .where(Escalation.upper_household_id == household.id)).scalar_one_or_none()


def recheck_trigger(recheck: Recheck) -> dict[str, Any]:
    """What a 复核报告 says about why it was made: the 复核表's trigger, reason, requester and date (DO-8)."""
    return {"code": recheck.trigger.value, "label": TRIGGER_NAMES[recheck.trigger.value], "reason": recheck.reason,
            "recheck_no": recheck.number, "requester": recheck.requester_name,
            "requested_on": recheck.requested_on.isoformat(), "initiating_unit": recheck.initiating_unit.name}


def issue_report(ctx: EngineContext, household: Household, *, actor: Actor, remarks: str | None = None,
                 agency_ref: str | None = None, supersedes: Report | None = None, reason: str | None = None,
                 kind: ReportKind = ReportKind.VERIFICATION, trigger: dict[str, Any] | None = None,
                 original: Report | None = None) -> Report:
    """Number, snapshot, lay out once (to know the page count), hash and store a report; record it.

    :param trigger: 复核报告 only: ``{"code", "label", "reason"}`` of the objection or other trigger.
    :param original: 复核报告 only: the report re-verified; the snapshot lists the differences from it.
    """
    instance = household.instance
    if instance is None:
        raise InvalidStateError("案件没有核对流程，不能出具报告", code="report_no_case")
    agency = ctx.session.get(Unit, household.entrustment.agency_unit_id)
    addressee = ctx.session.get(Unit, household.entrustment.entrusting_unit_id)
    assert agency is not None and addressee is not None
    now = ctx.now()
    today = now.astimezone(SHANGHAI).date()
    policy = effective_policy(ctx, ctx.policy_profile)
    region = ctx.session.execute(select(Region.name).where(Region.code == agency.region_code)).scalar() or agency.name
    seq = next_counter_value(ctx, agency.id, today.year, "report")
    number = report_number(region_short_name(region), today.year, seq)
    issue = report_content.Issue(
        kind=kind.value, number=number, agency=agency, addressee=addressee, issued_at=now, issued_on=today,
        issued_by=actor.username, valid_until=policy.report_valid_until(today), remarks=remarks, agency_ref=agency_ref,
        supersedes={"id": supersedes.id, "number": supersedes.number, "reason": reason} if supersedes else None,
        trigger=trigger, original={**contents(original), "id": original.id} if original else None)
    snapshot = report_content.build(ctx, household, issue, policy)
    snapshot["cover"]["pages"] = page_count(snapshot)
    text = canonical(snapshot)
    report = Report(kind=kind, number=number, agency_unit_id=agency.id, year=today.year, seq=seq,
                    household_id=household.id, instance_id=instance.id, case_no=household.case_no,
                    addressee_unit_id=addressee.id, issued_at=now, issued_by=actor.username,
                    valid_until=issue.valid_until, supersedes_id=supersedes.id if supersedes else None, content=text,
                    sha256=sha256(text.encode("utf-8")))
    ctx.session.add(report)
    ctx.session.flush()
    append_event(ctx, stream=instance_stream(instance.id), kind="report_superseded" if supersedes else "report_issued",
                 actor=actor, instance_id=instance.id,
                 payload={"report_id": report.id, "number": number, "sha256": report.sha256,
                          "valid_until": report.valid_until.isoformat(),
                          **({"supersedes": supersedes.number, "reason": reason} if supersedes else {})})
    return report


def page_count(snapshot: dict[str, Any]) -> int:
    """Lay the report out once and count its pages (the cover states them, BJ 附件3)."""
    probe = report_pdf(snapshot, Stamp(viewer="", unit="", at=datetime.fromisoformat(snapshot["issued_at"])))
    return len(_PAGE.findall(probe))


def require_current(ctx: EngineContext, report: Report) -> None:
    """Refuse to correct a report already replaced (the page offers no 更正 then; a stale page may post one).

    :raises InvalidStateError: ``report_superseded``.
    """
    if superseded_by(ctx.session, [report.id]).get(report.id) is not None:
        raise InvalidStateError(f"报告 {report.number} 已被替代，不能再次更正", code="report_superseded")


def supersede(ctx: EngineContext, report: Report, *, actor: Actor, reason: str) -> Report:
    """Issue a corrected report that replaces ``report`` (which stays, unchanged, as 已被替代)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(fields={"reason": ["请说明更正原因"]})
    require_current(ctx, report)
    household = ctx.session.get(Household, report.household_id)
    assert household is not None
    old = contents(report)
    review = old.get("reverification") or {}
    original = None
    if review.get("original"):
        # by id (snapshots name it); older snapshots only by number, which the issuing agency made unique
        ref = review["original"]
        original = ctx.session.get(Report, ref["id"]) if ref.get("id") else ctx.session.execute(
            select(Report).where(Report.agency_unit_id == report.agency_unit_id, Report.number == ref["number"])
        ).scalar_one_or_none()
    return issue_report(ctx, household, actor=actor, remarks=old.get("remarks"), agency_ref=old.get("agency_ref"),
                        supersedes=report, reason=reason, kind=report.kind, trigger=review.get("trigger"),
                        original=original)


def get_report(ctx: EngineContext, report_id: int) -> Report:
    report = ctx.session.get(Report, report_id)
    if report is None:
        raise NotFoundError("核对报告不存在", code="report_not_found")
    return report


def superseded_by(session: Session, ids: list[int]) -> dict[int, Report]:
    """Old report id -> the report that replaced it."""
    rows = session.execute(select(Report).where(Report.supersedes_id.in_(ids))).scalars()
    return {r.supersedes_id: r for r in rows if r.supersedes_id is not None}


#: a report's state code (the API's ``state``, the list's filter) -> what people read (the ``status``)
REPORT_STATE_NAMES = {"valid": "有效", "expired": "已过期", "superseded": "已被替代"}


@dataclass(frozen=True)
class ReportState:
    """A report as lists show it: valid, expired (LOC-27, DO-10) and/or replaced by a correction."""

    report: Report
    expired: bool
    superseded_by: Report | None

    @property
    def code(self) -> str:
        """``valid``, ``expired`` or ``superseded`` (the API's stable value; :attr:`label` is what people read)."""
        if self.superseded_by is not None:
            return "superseded"
        return "expired" if self.expired else "valid"

    @property
    def label(self) -> str:
        return REPORT_STATE_NAMES[self.code]

    def to_json(self) -> dict[str, Any]:
        r = self.report
        return {"id": r.id, "number": r.number, "kind": r.kind.value, "case_no": r.case_no,
                "issued_at": r.issued_at.isoformat(), "valid_until": r.valid_until.isoformat(),
                "expired": self.expired, "superseded_by": self.superseded_by.number if self.superseded_by else None,
                "supersedes_id": r.supersedes_id, "status": self.label, "state": self.code, "sha256": r.sha256}


def is_expired(report: Report, today: date) -> bool:
    return today > report.valid_until


def case_reports(ctx: EngineContext, case_no: str) -> list[ReportState]:
    """Every report of the case, oldest first, with its state today (Beijing date from the engine clock)."""
    reports = list(ctx.session.execute(select(Report).where(Report.case_no == case_no)
                                       .order_by(Report.issued_at, Report.id)).scalars())
    today = ctx.now().astimezone(SHANGHAI).date()
    successors = superseded_by(ctx.session, [r.id for r in reports])
    return [ReportState(r, is_expired(r, today), successors.get(r.id)) for r in reports]


def reports_with_rechecks(ctx: EngineContext, household: Household) -> list[ReportState]:
    """The case's own reports, then the 复核报告 issued by the re-verifications of the household (DO-8, PS-9).

    A 复核报告 belongs to the recheck's own verification case (its number, archive and agency),
    and the original case lists it too, so whoever reads the original report sees it was re-verified.
    """
    linked = ctx.session.execute(select(Household.case_no).join(
        Recheck, Recheck.verification_household_id == Household.id)
        .where(Recheck.original_household_id == household.id).order_by(Recheck.id)).scalars().all()
    out = case_reports(ctx, household.case_no)
    for case_no in linked:
        out += [s for s in case_reports(ctx, case_no) if s.report.kind is ReportKind.REVERIFICATION]
    return out


def current_report(ctx: EngineContext, case_no: str) -> ReportState | None:
    """The report a decision would rely on: the newest one not superseded."""
    current = [s for s in case_reports(ctx, case_no) if s.superseded_by is None]
    return current[-1] if current else None


def flag_expired_use(ctx: EngineContext, instance: WorkflowInstance, *, actor: Actor) -> ReportState | None:
    """A decision recorded on an expired report is flagged (LOC-27: valid one year): ``expired_report_used``.

    Recording the decision is not refused (the decision is the entrusting unit's, PR-3), but the
    flag is on the record for supervision, and the task page and the API say 已过期 beforehand.
    """
    from engine.audit import record_access

    state = current_report(ctx, instance.business_key) if instance.business_key else None
    if state is not None and state.expired:
        record_access(ctx, "expired_report_used", instance, actor=actor, report_id=state.report.id,
                      number=state.report.number, valid_until=state.report.valid_until.isoformat())
    return state
