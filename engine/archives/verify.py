"""``hedui archive verify``: re-check every digest of every archive and say where it does not match (AR-4).

For each archive: the manifest against its stored SHA-256, the stored SHA-256 against the
``archive_sealed`` event in the hash-chained log (sealed here), every item row against its
manifest entry, and every item's bytes against the SHA-256 in the manifest.

For every issued report (DO-7, DO-8), whether archived yet or not: the snapshot in the ``reports``
row against the row's SHA-256, and that SHA-256 against the ``report_issued`` / ``report_superseded``
event in the hash-chained log, so a snapshot rewritten together with its digest is caught too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.archives.seal import sha256
from engine.history import SYSTEM_STREAM
from engine.models import Event
from engine.models.archive import Archive
from engine.models.archive import ArchiveItem
from engine.models.archive import ArchiveItemBlob
from engine.models.report import Report


@dataclass(frozen=True)
class ArchiveProblem:
    case_no: str
    #: the item's position in the archive; None for the archive as a whole
    position: int | None
    item: str
    problem: str

    def __str__(self) -> str:
        where = f"第 {self.position} 项「{self.item}」" if self.position is not None else "档案清单"
        return f"{self.case_no} {where}：{self.problem}"


@dataclass(frozen=True)
class ReportProblem:
    case_no: str
    number: str
    problem: str

    def __str__(self) -> str:
        return f"{self.case_no} 报告 {self.number}：{self.problem}"


@dataclass
class ArchiveReport:
    archives_checked: int = 0
    items_checked: int = 0
    problems: list[ArchiveProblem] = field(default_factory=list)
    reports_checked: int = 0
    report_problems: list[ReportProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.report_problems

    @property
    def all_problems(self) -> list[ArchiveProblem | ReportProblem]:
        return [*self.problems, *self.report_problems]


def item_status(session: Session, archive: Archive) -> dict[int, str | None]:
    """Position -> None when the item verifies, else the problem (for the viewer's per-item status)."""
    report = verify_archives(session, [archive])
    out: dict[int, str | None] = {item.position: None for item in archive.items}
    for p in report.problems:
        if p.position is not None:
            out[p.position] = p.problem
        else:
            out = {pos: out[pos] or p.problem for pos in out}
    return out


def verify_archives(session: Session, archives: list[Archive] | None = None) -> ArchiveReport:
    """Check ``archives``; without a list, every archive and every issued report (what the CLI runs)."""
    report = ArchiveReport()
    sealed = _sealed_digests(session)
    everything = archives is None
    if archives is None:
        archives = list(session.execute(select(Archive).order_by(Archive.id)).scalars())
    for archive in archives:
        report.archives_checked += 1
        _check(session, archive, sealed, report)
    if everything:
        verify_reports(session, report)
    return report


def verify_reports(session: Session, report: ArchiveReport) -> None:
    """Every report's snapshot against its stored SHA-256, and that against the hash-chained issuing event."""
    issued = _issued_digests(session)
    rows = session.execute(select(Report.id, Report.case_no, Report.number, Report.content, Report.sha256)
                           .order_by(Report.id)).yield_per(200)
    for report_id, case_no, number, content, digest in rows:
        report.reports_checked += 1
        if sha256(content.encode("utf-8")) != digest:
            report.report_problems.append(ReportProblem(case_no, number, "报告内容与其 SHA-256 不符（内容已被修改）"))
        elif issued.get(report_id) != digest:
            report.report_problems.append(ReportProblem(case_no, number, "报告摘要与办理日志中的出具记录不符"))


def _check(session: Session, archive: Archive, sealed: dict[int, str], report: ArchiveReport) -> None:
    def problem(position: int | None, item: str, text: str) -> None:
        report.problems.append(ArchiveProblem(archive.case_no, position, item, text))

    if sha256(archive.manifest.encode("utf-8")) != archive.manifest_sha256:
        problem(None, "", "档案清单与其摘要不符（清单已被修改）")
    if archive.origin == "local" and sealed.get(archive.id) != archive.manifest_sha256:
        problem(None, "", "清单摘要与办理日志中的归档记录不符")
    try:
        manifest = json.loads(archive.manifest)
        entries = {int(e["position"]): e for e in manifest["items"]}
    except (ValueError, KeyError, TypeError):
        problem(None, "", "档案清单无法解析")
        return
    if manifest.get("case_no") != archive.case_no:
        problem(None, "", "档案清单中的业务编号与档案不符")
    rows = {i.position: i for i in session.execute(
        select(ArchiveItem).where(ArchiveItem.archive_id == archive.id)).scalars()}
    for position in sorted(set(entries) | set(rows)):
        entry, row = entries.get(position), rows.get(position)
        title = (entry or {}).get("title") or (row.title if row else "")
        if entry is None or row is None:
            problem(position, title, "档案项目缺失或多出（与清单不符）")
            continue
        report.items_checked += 1
        if (row.sha256, row.size, row.kind) != (entry["sha256"], entry["size"], entry["kind"]):
            problem(position, title, "项目元数据与清单不符")
        content = session.execute(select(ArchiveItemBlob.content).where(ArchiveItemBlob.item_id == row.id)).scalar()
        if content is None:
            problem(position, title, "项目内容缺失")
        elif sha256(bytes(content)) != entry["sha256"]:
            problem(position, title, "项目内容与清单中的 SHA-256 不符（内容已被修改）")


def _sealed_digests(session: Session) -> dict[int, str]:
    """archive id -> manifest digest, as the hash-chained ``archive_sealed`` events recorded it."""
    out: dict[int, str] = {}
    for payload in session.execute(select(Event.payload).where(
            Event.stream == SYSTEM_STREAM, Event.kind == "archive_sealed")).scalars():
        if isinstance(payload, dict) and "archive_id" in payload:
            out[int(payload["archive_id"])] = str(payload.get("manifest_sha256"))
    return out


def _issued_digests(session: Session) -> dict[int, str]:
    """report id -> snapshot digest, as the hash-chained ``report_issued`` / ``report_superseded`` events
    recorded it."""
    out: dict[int, str] = {}
    for payload in session.execute(select(Event.payload).where(
            Event.kind.in_(("report_issued", "report_superseded")))).scalars():
        if isinstance(payload, dict) and "report_id" in payload:
            out[int(payload["report_id"])] = str(payload.get("sha256"))
    return out
