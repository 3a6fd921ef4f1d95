"""Producing a case's printable documents for a person: the watermark, the print counter, the access record.

Full ID numbers appear only on these official documents (DO-4, DO-5), so every download and
every print is recorded on the system stream (SEC-12) with the document and, for a print, its
number N ("第N次打印", kept per document in ``print_counters``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import record_access
from engine.context import Actor
from engine.context import EngineContext
from engine.documents.pdf import Stamp
from engine.documents.render import authorisation_pdf
from engine.documents.render import entrustment_pdf
from engine.errors import NotFoundError
from engine.models.archive import PrintCounter
from engine.models.case import Household

DOCUMENTS = {"authorisation": "授权书", "entrustment": "委托书"}


@dataclass(frozen=True)
class Rendered:
    content: bytes
    filename: str
    print_no: int | None


def document_key(household: Household, which: str) -> str:
    """The print counter's key: the 授权书 per case, the 委托书 per letter (it covers the whole batch)."""
    return f"entrustment:{household.entrustment_id}" if which == "entrustment" else f"authorisation:{household.id}"


def print_counts(session: Session, keys: list[str]) -> dict[str, int]:
    """How often each document was printed so far (absent keys: never)."""
    rows = session.execute(select(PrintCounter.document_key, PrintCounter.count)
                           .where(PrintCounter.document_key.in_(keys))).all()
    return {key: count for key, count in rows}


def next_print_no(ctx: EngineContext, key: str, actor: Actor) -> int:
    """Count one more print of ``key`` and return N; the row lock orders concurrent prints."""
    for attempt in range(3):
        counter = ctx.session.execute(select(PrintCounter).where(PrintCounter.document_key == key)
                                      .with_for_update()).scalar_one_or_none()
        if counter is not None:
            counter.count += 1
            counter.last_printed_at, counter.last_printed_by = ctx.now(), actor.username
            ctx.session.flush()
            return counter.count
        try:
            with ctx.session.begin_nested():
                ctx.session.add(PrintCounter(document_key=key, count=1, last_printed_at=ctx.now(),
                                             last_printed_by=actor.username))
            return 1
        except sa_exc.IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def render_case_document(ctx: EngineContext, household: Household, which: str, *, actor: Actor, viewer: str,
                         unit: str, printing: bool) -> Rendered:
    """The 授权书 or 委托书 of a case, watermarked for ``viewer``; counted and recorded."""
    if which not in DOCUMENTS or household.instance is None:
        raise NotFoundError("文书不存在", document=which)
    key = document_key(household, which)
    print_no = next_print_no(ctx, key, actor) if printing else None
    stamp = Stamp(viewer=viewer, unit=unit, at=ctx.now(), print_no=print_no)
    if which == "authorisation":
        content, filename = authorisation_pdf(ctx.session, household, stamp), f"授权书-{household.case_no}.pdf"
    else:
        content = entrustment_pdf(ctx.session, household, stamp)
        filename = f"委托书-{household.entrustment.number}.pdf"
    record_access(ctx, "document_printed" if printing else "document_downloaded", household.instance, actor=actor,
                  via="web", document=which, document_key=key, print_no=print_no)
    return Rendered(content, filename, print_no)
