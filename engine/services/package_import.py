"""Electronic data packages (DO-6, JL 规程 二（一）5; docs/data-package.md): import one as a 委托书 with its cases.

The package is read and checked by ``engine.services.packages``; this module decides what is imported —
nothing unless all is valid, or exactly the valid households — and registers it through
``engine.services.cases.create_entrustment``. A refused import is recorded without personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import Entrustment
from engine.models import EntrustmentSource
from engine.models import Unit
from engine.services.cases import create_entrustment
from engine.services.cases import entrusting_and_agency
from engine.services.cases import household_problems
from engine.services.cases import local_today
from engine.services.packages import Problem
from engine.services.packages import read_package

logger = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did: every problem found, and which households became cases."""

    accepted: bool
    problems: list[Problem] = field(default_factory=list)
    entrustment: Entrustment | None = None
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    case_nos: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "problems": [p.to_dict() for p in self.problems],
                "entrustment_number": self.entrustment.number if self.entrustment else None,
                "imported": self.imported, "skipped": self.skipped, "case_nos": self.case_nos}


def import_package(ctx: EngineContext, zip_bytes: bytes, *, entrusting_unit: Unit | str, agency_unit: Unit | str,
                   actor: Actor, accept_valid_rows: bool = False,
                   sharing_units: Sequence[str] | None = None) -> ImportReport:
    """Import an electronic data package: nothing unless all is valid, or with ``accept_valid_rows`` exactly
    the valid households. Problems with the package itself (manifest, digests of the tables, counts) always
    refuse the whole package. A refused import is recorded (without personal data) and returns its report.
    """
    entrusting, agency = entrusting_and_agency(ctx, entrusting_unit, agency_unit)
    package = read_package(zip_bytes, today=local_today(ctx))
    fatal = list(package.problems)
    declared = package.manifest.get("entrusting_unit")
    if package.manifest and declared != entrusting.code:
        fatal.append(Problem("manifest.json", None, "entrusting_unit",
                             f"数据包的委托单位（{declared}）与实际委托单位不符"))
    if ctx.session.execute(select(Entrustment.number).where(
            Entrustment.agency_unit_id == agency.id, Entrustment.package_sha256 == package.sha256)).first():
        fatal.append(Problem("manifest.json", None, None, "该数据包已经导入过"))
    for household in package.households:
        problems = household_problems(ctx, household.data, household.documents, agency)
        household.problems += [p for p in package.problems_for(household, problems) if p not in household.problems]
    row_problems = [p for h in package.households for p in h.problems]
    valid = [h for h in package.households if not h.problems]
    report = ImportReport(accepted=False, problems=fatal + row_problems)
    if fatal or not valid or (row_problems and not accept_valid_rows):
        return _refused(ctx, report, package.sha256, entrusting, actor)
    letter = package.manifest.get("entrustment") or {}
    try:
        report.entrustment = create_entrustment(
            ctx, entrusting_unit=entrusting, agency_unit=agency, households=[h.data for h in valid],
            documents=[h.documents for h in valid], entrustment_documents=package.entrustment_documents,
            contact_name=letter.get("contact_name") or "", contact_phone=letter.get("contact_phone") or "",
            entrusted_on=date.fromisoformat(letter["entrusted_on"]), number=letter.get("number") or None,
            sharing_units=sharing_units, source=EntrustmentSource.PACKAGE, package_sha256=package.sha256,
            actor=actor)
    except ValidationError as exc:
        report.problems += package.problems_from_entrustment(exc.details.get("fields") or {}, valid)
        return _refused(ctx, report, package.sha256, entrusting, actor)
    report.accepted = True
    report.imported = [h.ref for h in valid]
    report.skipped = [h.ref for h in package.households if h.problems]
    report.case_nos = [h.case_no for h in report.entrustment.households]
    append_event(ctx, stream=SYSTEM_STREAM, kind="package_imported", actor=actor, payload={
        "sha256": package.sha256, "entrusting_unit": entrusting.code, "entrustment": report.entrustment.number,
        "imported": len(report.imported), "skipped": len(report.skipped), "problems": len(report.problems)})
    return report


def _refused(ctx: EngineContext, report: ImportReport, sha256: str, entrusting: Unit, actor: Actor) -> ImportReport:
    append_event(ctx, stream=SYSTEM_STREAM, kind="package_refused", actor=actor, payload={
        "sha256": sha256, "entrusting_unit": entrusting.code, "problems": len(report.problems)})
    logger.info("Data package %s from %s refused with %s problems", sha256[:12], entrusting.code,
                len(report.problems))
    return report

