"""Producing printable documents for a person: the watermark, the print counter, the access record.

The case's 授权书 and 委托书 (DO-4, DO-5) and a recheck's 复核表 and 复核委托书 (DO-8). Full ID
numbers appear only on these official documents, so every download and
every print is recorded on the system stream (SEC-12) with the document and, for a print, its
number N ("第N次打印", kept per document in ``print_counters``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import record_access
from engine.context import Actor
from engine.context import EngineContext
from engine.documents.pdf import Stamp
from engine.documents.render import authorisation_pdf
from engine.documents.render import entrustment_pdf
from engine.documents.render import recheck_entrustment_pdf
from engine.documents.render import recheck_form_pdf
from engine.errors import NotFoundError
from engine.models import WorkflowInstance
from engine.models.archive import PrintCounter
from engine.models.case import Household
from engine.models.recheck import Recheck

DOCUMENTS = {"authorisation": "授权书", "entrustment": "委托书"}
RECHECK_DOCUMENTS = {"recheck_form": "复核表", "recheck_entrustment": "复核委托书"}


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


def _produce(ctx: EngineContext, instance: WorkflowInstance, which: str, key: str, *, actor: Actor, viewer: str,
             unit: str, printing: bool, via: str, draw: Callable[[Stamp], bytes], filename: str,
             **details: Any) -> Rendered:
    """Stamp, count (a print) and record one copy of a document: what every printable document shares."""
    print_no = next_print_no(ctx, key, actor) if printing else None
    content = draw(Stamp(viewer=viewer, unit=unit, at=ctx.now(), print_no=print_no))
    record_access(ctx, "document_printed" if printing else "document_downloaded", instance, actor=actor,
                  via=via, document=which, document_key=key, print_no=print_no, **details)
    return Rendered(content, filename, print_no)


def render_case_document(ctx: EngineContext, household: Household, which: str, *, actor: Actor, viewer: str,
                         unit: str, printing: bool) -> Rendered:
    """The 授权书 or 委托书 of a case, watermarked for ``viewer``; counted and recorded."""
    if which not in DOCUMENTS or household.instance is None:
        raise NotFoundError("文书不存在", document=which)
    if which == "authorisation":
        draw = functools.partial(authorisation_pdf, ctx.session, household)
        filename = f"授权书-{household.case_no}.pdf"
    else:
        draw = functools.partial(entrustment_pdf, ctx.session, household)
        filename = f"委托书-{household.entrustment.number}.pdf"
    return _produce(ctx, household.instance, which, document_key(household, which), actor=actor, viewer=viewer,
                    unit=unit, printing=printing, via="web", draw=draw, filename=filename)


def recheck_document_key(recheck: Recheck, which: str) -> str:
    """The print counter's key: the 复核表 per recheck, the 复核委托书 per letter."""
    return f"recheck_entrustment:{recheck.entrustment_id}" if which == "recheck_entrustment" \
        else f"recheck_form:{recheck.id}"


def recheck_instance(recheck: Recheck) -> WorkflowInstance | None:
    """Where a recheck's documents are recorded: its own process, else (a refused filing) the original case."""
    return recheck.instance or recheck.original_household.instance  # as rechecks.recheck_visible_to


def render_recheck_document(ctx: EngineContext, recheck: Recheck, which: str, *, actor: Actor, viewer: str,
                            unit: str, printing: bool, via: str = "web") -> Rendered:
    """The 复核表 or 复核委托书 (DO-8) of a recheck, watermarked for ``viewer``; counted and recorded.

    :raises NotFoundError: an unknown document, or a 复核委托书 before the department decided to re-verify.
    """
    instance = recheck_instance(recheck)
    if which not in RECHECK_DOCUMENTS or instance is None:
        raise NotFoundError("文书不存在", document=which)
    if which == "recheck_entrustment":
        if recheck.entrustment is None:
            raise NotFoundError("尚未出具复核委托书", document=which, recheck_no=recheck.number)
        draw = functools.partial(recheck_entrustment_pdf, ctx.session, recheck)
        filename = f"复核委托书-{recheck.entrustment.number}.pdf"
    else:
        draw = functools.partial(recheck_form_pdf, ctx.session, recheck)
        filename = f"复核表-{recheck.number}.pdf"
    return _produce(ctx, instance, which, recheck_document_key(recheck, which), actor=actor, viewer=viewer,
                    unit=unit, printing=printing, via=via, draw=draw, filename=filename, recheck_no=recheck.number)
