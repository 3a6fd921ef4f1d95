"""Seal a closed case's archive once (AR-1, ARC-01/02): items, manifest, digest, history event.

When: a case is closed when its verification instance has completed (核对完成, 终止核对 or
退回委托单位 all end the verification). Sealing is a sweep job, ``archives.seal_closed``, run by
the timer ticker (in-process) or celery beat and by ``hedui archive seal``, rather than a step
inside the command that completes the last task: completing a task stays fast and can never fail
because a PDF could not be rendered, a sealing that fails is retried by the next sweep, and the
sweep also seals cases closed before this feature existed. Sealing is idempotent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.archives import retention
from engine.archives.kinds import KINDS
from engine.archives.kinds import collect
from engine.context import Actor
from engine.context import EngineContext
from engine.documents.pdf import Stamp
from engine.errors import InvalidStateError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.jobs import job
from engine.models import InstanceStatus
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.models.archive import Archive
from engine.models.archive import ArchiveItem
from engine.models.archive import ArchiveItemBlob
from engine.models.case import CaseStatus
from engine.models.case import Household

MANIFEST_FORMAT = "hedui-archive/1"
SEALER = Actor.system("archive")


def canonical(data: Any) -> str:
    """The one JSON encoding manifests are hashed in."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_of(ctx: EngineContext, household_id: int) -> Archive | None:
    return ctx.session.execute(select(Archive).where(Archive.household_id == household_id)).scalar_one_or_none()


def seal_case(ctx: EngineContext, household: Household, *, actor: Actor = SEALER,
              overrides: Mapping[str, int] | None = None) -> Archive:
    """Seal ``household``'s archive (its verification must have ended); the existing one if already sealed."""
    existing = archive_of(ctx, household.id)
    if existing is not None:
        return existing
    instance = household.instance
    if instance is None or instance.status is not InstanceStatus.COMPLETED:
        raise InvalidStateError("案件尚未办结，不能归档", case_no=household.case_no)
    overrides = overrides if overrides is not None else ctx.archive_retention
    agency = ctx.session.get(Unit, household.entrustment.agency_unit_id)
    assert agency is not None
    now = ctx.now()
    drafts = collect(ctx, household, Stamp(viewer=f"归档（{actor.username}）", unit=agency.name, at=now))
    years = {code: retention.years_for(k.record_type, overrides) for code, k in KINDS.items()}
    items = [{
        "position": n, "kind": d.kind, "kind_name": KINDS[d.kind].name, "title": d.title, "filename": d.filename,
        "content_type": d.content_type, "size": len(d.content), "sha256": sha256(d.content),
        "business_id": d.business_id, "created_at": d.created_at.isoformat(), "created_by": d.created_by,
        "record_type": KINDS[d.kind].record_type, "retention_years": years[d.kind],
    } for n, d in enumerate(drafts, start=1)]
    entrustment = household.entrustment
    manifest = {
        "format": MANIFEST_FORMAT, "case_no": household.case_no,
        "business_ids": {"household_id": household.id, "entrustment_id": entrustment.id,
                         "entrustment_number": entrustment.number, "instance_id": instance.id,
                         "business_type": household.business_type},
        "creator": {"sealed_by": actor.username, "unit_code": agency.code, "unit_name": agency.name},
        "region_code": household.region_code, "sealed_at": now.isoformat(),
        "case": {"created_at": household.created_at.isoformat(), "closed_at": _iso(instance.completed_at),
                 "entrusted_on": entrustment.entrusted_on.isoformat()},
        "retention": {"default_years": retention.DEFAULT_YEARS,
                      "by_record_type": {t: retention.years_for(t, overrides) for t in retention.RECORD_TYPES}},
        "items": items,
    }
    text = canonical(manifest)
    archive = Archive(case_no=household.case_no, household_id=household.id, agency_code=agency.code,
                      agency_name=agency.name, region_code=household.region_code, sealed_at=now,
                      sealed_by=actor.username, manifest=text, manifest_sha256=sha256(text.encode("utf-8")),
                      origin="local", imported_at=None)
    ctx.session.add(archive)
    ctx.session.flush()
    add_items(ctx, archive, items, [d.content for d in drafts])
    if household.status is CaseStatus.OPEN:
        household.status = CaseStatus.CLOSED
    append_event(ctx, stream=SYSTEM_STREAM, kind="archive_sealed", actor=actor,
                 payload={"instance_id": instance.id, "business_key": household.case_no, "archive_id": archive.id,
                          "manifest_sha256": archive.manifest_sha256, "items": len(items)})
    return archive


def add_items(ctx: EngineContext, archive: Archive, entries: list[dict[str, Any]], contents: list[bytes]) -> None:
    """Write the item rows and their bytes exactly as the manifest lists them (sealing and import)."""
    for entry, content in zip(entries, contents, strict=True):
        item = ArchiveItem(archive_id=archive.id, position=entry["position"], kind=entry["kind"], title=entry["title"],
                           filename=entry["filename"], content_type=entry["content_type"], size=entry["size"],
                           sha256=entry["sha256"], business_id=entry["business_id"],
                           created_at=datetime.fromisoformat(entry["created_at"]), created_by=entry["created_by"],
                           retention_years=entry["retention_years"])
        ctx.session.add(item)
        ctx.session.flush()
        ctx.session.add(ArchiveItemBlob(item_id=item.id, content=content))
    ctx.session.flush()


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def unsealed_cases(ctx: EngineContext, limit: int = 50) -> list[Household]:
    """Cases whose verification has ended and that have no archive yet, oldest first."""
    return list(ctx.session.execute(
        select(Household).join(WorkflowInstance, WorkflowInstance.id == Household.instance_id)
        .outerjoin(Archive, Archive.household_id == Household.id)
        .where(WorkflowInstance.status == InstanceStatus.COMPLETED, Archive.id.is_(None))
        .options(selectinload(Household.persons), selectinload(Household.authorisations))
        .order_by(WorkflowInstance.completed_at, Household.id).limit(limit)).scalars())


@job("archives.seal_closed")
def seal_closed(ctx: EngineContext, limit: int = 50) -> int:
    """Seal every closed case without an archive (the sweep); returns how many were sealed."""
    cases = unsealed_cases(ctx, limit)
    for household in cases:
        seal_case(ctx, household)
    return len(cases)
