"""Turn the cases' ``exchange_request`` outbox messages into exchange requests (DX-4).

A request names a case, a unit and one line per subject with only the name, the ID number and
the categories asked; the subjects were checked against a valid authorisation when the message
was thrown (``engine.persistence.guard_outgoing``, PR-1). Every line × category starts as
未反馈, so the case page always shows the complete picture.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.catalogue import unit_categories
from engine.history import append_event
from engine.history import instance_stream
from engine.models import OutboxMessage
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.models.case import Person
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeRequestLine
from engine.models.exchange import ExchangeResult
from engine.models.exchange import RequestStatus
from engine.models.exchange import ResultStatus
from engine.persistence import lock_instance

COLLECTOR = Actor.system("job:exchange")


def collect_requests(ctx: EngineContext, *, limit: int = 500) -> int:
    """Consume unsent ``exchange_request`` outbox rows; returns how many requests were created.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers never turn
    one message into two requests; the unique ``outbox_id`` backs that up everywhere.
    """
    query = (select(OutboxMessage).where(OutboxMessage.message_name == "exchange_request",
                                         OutboxMessage.sent_at.is_(None))
             .order_by(OutboxMessage.id).limit(limit))
    if ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    created = 0
    for row in ctx.session.execute(query).scalars().all():
        if _request_from(ctx, row) is not None:
            created += 1
        row.sent_at = ctx.now()
    ctx.session.flush()
    return created


def _request_from(ctx: EngineContext, row: OutboxMessage) -> ExchangeRequest | None:
    payload = row.payload if isinstance(row.payload, dict) else {}
    unit = ctx.session.execute(select(Unit).where(Unit.code == str(payload.get("unit")))).scalar_one_or_none()
    case_no = str(payload.get("case_no") or "")
    if unit is None or not case_no:
        return None  # not an exchange with a known unit (test diagrams); nothing to send
    existing = ctx.session.execute(select(ExchangeRequest.id).where(ExchangeRequest.case_no == case_no,
                                                                    ExchangeRequest.unit_id == unit.id)).first()
    if existing is not None:
        return None
    now = ctx.now()
    agency_id = ctx.session.execute(select(WorkflowInstance.agency_unit_id)
                                    .where(WorkflowInstance.id == row.instance_id)).scalar()
    request = ExchangeRequest(outbox_id=row.id, instance_id=row.instance_id, case_no=case_no, unit_id=unit.id,
                              agency_unit_id=agency_id,
                              status=RequestStatus.OPEN, reply_due=_due(payload.get("reply_due"), now),
                              created_at=now)
    ctx.session.add(request)
    categories = unit_categories(unit)
    ids = [int(s) for s in payload.get("subject_ids") or [] if str(s).isdigit()]
    persons = ctx.session.execute(select(Person).where(Person.id.in_(ids)).order_by(Person.id)).scalars().all()
    ctx.session.flush()
    for person in persons:
        ctx.session.add(ExchangeRequestLine(request_id=request.id, person_id=person.id, name=person.name,
                                            id_number=person.id_number, categories=categories))
        for category in categories:
            ctx.session.add(ExchangeResult(request_id=request.id, person_id=person.id, unit_id=unit.id,
                                           category=category, status=ResultStatus.PENDING, updated_at=now))
    ctx.session.flush()
    lock_instance(ctx.session, row.instance_id)  # orders the instance's event stream
    append_event(ctx, stream=instance_stream(row.instance_id), kind="exchange_request_created", actor=COLLECTOR,
                 instance_id=row.instance_id, payload={"request_id": request.id, "unit": unit.code,
                                                       "persons": len(persons), "categories": categories,
                                                       "reply_due": request.reply_due.isoformat()})
    return request


def _due(value: object, fallback: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return fallback
    return parsed if parsed.tzinfo is not None else fallback
