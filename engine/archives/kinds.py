"""What an archive holds: item kinds and the collectors that gather them from a closed case.

A collector is ``fn(ctx, household, stamp) -> list[ItemDraft]``, registered with an order. The
built-in ones gather the scans (授权书 with signatures and fingerprints, ID cards, evidence), the
entrustment letter scans, the 授权书 and 委托书 rendered at sealing time, and the case history.
The data-exchange and report branches register theirs (requests, each source's response, the
核对报告 PDFs) without touching the sealing code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.context import EngineContext
from engine.documents import pdf
from engine.documents.render import authorisation_pdf
from engine.documents.render import entrustment_pdf
from engine.models import Event
from engine.models import WorkflowInstance
from engine.models.case import DOCUMENT_KIND_NAMES
from engine.models.case import Document
from engine.models.case import Household
from engine.models.recheck import Recheck


@dataclass(frozen=True)
class ItemKind:
    code: str
    name: str
    #: the retention record type (``engine.archives.retention.RECORD_TYPES``)
    record_type: str


KINDS: dict[str, ItemKind] = {}


def register_kind(code: str, name: str, record_type: str) -> ItemKind:
    kind = ItemKind(code, name, record_type)
    KINDS[code] = kind
    return kind


AUTHORISATION_SCAN = register_kind("authorisation_scan", "授权书扫描件", "authorisation")
IDENTITY_SCAN = register_kind("identity_scan", "身份证件扫描件", "authorisation")
ENTRUSTMENT_SCAN = register_kind("entrustment_scan", "委托书扫描件", "entrustment")
EVIDENCE_SCAN = register_kind("evidence_scan", "证明材料", "authorisation")
AUTHORISATION_PDF = register_kind("authorisation_pdf", "授权书（归档生成）", "authorisation")
ENTRUSTMENT_PDF = register_kind("entrustment_pdf", "委托书（归档生成）", "entrustment")
CASE_HISTORY = register_kind("case_history", "办理过程记录（哈希链事件）", "case_history")
_SCAN_KINDS = {"authorisation": AUTHORISATION_SCAN, "id_card": IDENTITY_SCAN, "hukou": IDENTITY_SCAN,
               "entrustment": ENTRUSTMENT_SCAN, "evidence": EVIDENCE_SCAN, "other": EVIDENCE_SCAN}


@dataclass(frozen=True)
class ItemDraft:
    """One item before sealing: its bytes and the metadata ARC-02 asks for."""

    kind: str
    title: str
    filename: str
    content_type: str
    content: bytes
    business_id: str
    created_at: datetime
    created_by: str


Collector = Callable[[EngineContext, Household, pdf.Stamp], list[ItemDraft]]
_COLLECTORS: list[tuple[int, str, Collector]] = []


def collector(order: int) -> Callable[[Collector], Collector]:
    """Register a collector; items are archived in ``order``, then in the order each collector returns them."""

    def decorate(fn: Collector) -> Collector:
        name = f"{fn.__module__}.{fn.__qualname__}"
        _COLLECTORS[:] = [c for c in _COLLECTORS if c[1] != name]
        _COLLECTORS.append((order, name, fn))
        _COLLECTORS.sort(key=lambda c: (c[0], c[1]))
        return fn

    return decorate


def collect(ctx: EngineContext, household: Household, stamp: pdf.Stamp) -> list[ItemDraft]:
    return [item for _, _, fn in _COLLECTORS for item in fn(ctx, household, stamp)]


@collector(10)
def scans(ctx: EngineContext, household: Household, stamp: pdf.Stamp) -> list[ItemDraft]:
    """Every scan attached to the case or to its entrustment letter, as uploaded."""
    docs = ctx.session.execute(
        select(Document).options(selectinload(Document.blob))
        .where((Document.household_id == household.id)
               | ((Document.entrustment_id == household.entrustment_id) & Document.household_id.is_(None)))
        .order_by(Document.id)).scalars().all()
    return [ItemDraft(_SCAN_KINDS.get(d.kind.value, EVIDENCE_SCAN).code,
                      DOCUMENT_KIND_NAMES.get(d.kind.value, d.kind.value), d.filename, d.content_type,
                      d.blob.content, f"document:{d.id}", d.created_at, d.created_by) for d in docs]


@collector(20)
def printable_documents(ctx: EngineContext, household: Household, stamp: pdf.Stamp) -> list[ItemDraft]:
    """The 授权书 and 委托书 as the system renders them at sealing time (AR-2: held electronically).

    An individual recheck's case holds its letter once, as the 复核委托书 (``case_items.recheck_documents``).
    """
    entrustment = household.entrustment
    auth = authorisation_pdf(ctx.session, household, stamp)
    items = [ItemDraft(AUTHORISATION_PDF.code, "授权书", f"授权书-{household.case_no}.pdf", "application/pdf", auth,
                       f"household:{household.id}", stamp.at, stamp.viewer)]
    if not _is_recheck_letter(ctx, household):
        items.append(ItemDraft(ENTRUSTMENT_PDF.code, "委托书", f"委托书-{entrustment.number}.pdf", "application/pdf",
                               entrustment_pdf(ctx.session, household, stamp), f"entrustment:{entrustment.id}",
                               stamp.at, stamp.viewer))
    return items


def _is_recheck_letter(ctx: EngineContext, household: Household) -> bool:
    return ctx.session.execute(select(Recheck.id).where(
        Recheck.verification_household_id == household.id,
        Recheck.entrustment_id == household.entrustment_id)).first() is not None


@collector(90)
def case_history(ctx: EngineContext, household: Household, stamp: pdf.Stamp) -> list[ItemDraft]:
    """Every event of every process instance of the case, with its hash and link, as JSON (ARC-02: traceable)."""
    instances = ctx.session.execute(select(WorkflowInstance.id, WorkflowInstance.process_id).where(
        WorkflowInstance.business_key == household.case_no).order_by(WorkflowInstance.id)).all()
    events = ctx.session.execute(select(Event).where(Event.instance_id.in_([i.id for i in instances]))
                                 .order_by(Event.stream, Event.seq)).scalars().all()
    body = {"format": "hedui-case-history/1", "case_no": household.case_no,
            "instances": [{"id": i.id, "process_id": i.process_id} for i in instances],
            "events": [{"stream": e.stream, "seq": e.seq, "instance_id": e.instance_id, "kind": e.kind,
                        "actor": e.actor, "actor_role": e.actor_role, "occurred_at": e.occurred_at.isoformat(),
                        "definition_hash": e.definition_hash, "task_id": e.task_id, "bpmn_id": e.bpmn_id,
                        "payload": e.payload, "prev_hash": e.prev_hash, "hash": e.hash} for e in events]}
    content = json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    return [ItemDraft(CASE_HISTORY.code, "办理过程记录", f"办理过程-{household.case_no}.json", "application/json",
                      content, f"case:{household.case_no}", stamp.at, stamp.viewer)]


# the exchange and report collectors register on import; they need the names above, hence at the end
from engine.archives import case_items  # noqa: E402,F401
