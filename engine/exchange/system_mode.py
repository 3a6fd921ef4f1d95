"""System mode (DX-3, DX-7): send confirmed batches to the units' endpoints; receive signed answers.

Sending is a background job. Each due batch is claimed with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two workers never send one batch twice; a unit that is down gets a few quick
retries (``sender.send_batch``) and is then rescheduled with back-off while the job carries on
with the other units. Answers come back either in the send response or later through
``POST /api/v1/exchange/results``, signed with the unit's key (nonce + timestamp, replays
refused), idempotent per delivery id, name the unit-side officer who released them (filed
for the unit, SD-3; ``engine.exchange.officers``) and are staged for the second officer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sized
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.exchange.batches import batch_lines
from engine.exchange.batches import log_batch
from engine.exchange.batches import mark_sent
from engine.exchange.catalogue import current_key
from engine.exchange.catalogue import require_profile
from engine.exchange.media_mode import agency_code
from engine.exchange.officers import answer_day
from engine.exchange.officers import check_unit_officer
from engine.exchange.officers import registration_username
from engine.exchange.officers import require_unit_officer
from engine.exchange.results import stage_answer
from engine.exchange.sender import RetryPolicy
from engine.exchange.sender import Transport
from engine.exchange.sender import send_batch
from engine.exchange.signing import SignedRequest
from engine.exchange.signing import UnitKey
from engine.exchange.signing import verify
from engine.models import Unit
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeKey
from engine.models.exchange import ExchangeMode
from engine.models.exchange import ExchangeNonce
from engine.models.exchange import ExchangeProfile
from forms.text import MESSAGE as CONTROL_MESSAGE
from forms.text import control_characters

RESULTS_PATH = "/api/v1/exchange/results"
DELAYS_PATH = "/api/v1/exchange/delay-notices"
SENDER = Actor.system("job:exchange")
#: a few quick attempts inside the job; longer outages are handled by rescheduling the batch
IN_JOB_POLICY = RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=1.0, timeout=10.0)
RESCHEDULE_BASE = timedelta(minutes=1)
RESCHEDULE_MAX = timedelta(hours=1)
RETIRED_KEY_GRACE = timedelta(days=30)

#: resolves a ``sim:`` endpoint to the in-process simulator's transport (set by ``engine.exchange.simulate``)
TransportFactory = Callable[[EngineContext], Transport]
_transports: dict[str, TransportFactory] = {}


def register_transport(scheme: str, factory: TransportFactory) -> None:
    _transports[scheme] = factory


def unit_key(ctx: EngineContext, unit: Unit) -> UnitKey:
    key = current_key(ctx, unit)
    profile = require_profile(ctx, unit)
    return UnitKey(unit.code, key.key_id, bytes(key.secret), algorithm=profile.signing_algorithm)


def batch_payload(ctx: EngineContext, batch: ExchangeBatch) -> dict[str, Any]:
    """What a unit receives (DX-4): the batch number, who asks, and name / ID number / categories per line."""
    return {"batch_no": batch.batch_no, "agency": agency_code(batch), "unit": batch.unit.code,
            "reply_to": RESULTS_PATH, "lines": batch_lines(ctx, batch)}


def _claim_due(ctx: EngineContext, limit: int) -> list[ExchangeBatch]:
    query = (select(ExchangeBatch).where(ExchangeBatch.status == BatchStatus.CONFIRMED,
                                         ExchangeBatch.mode == ExchangeMode.SYSTEM,
                                         ExchangeBatch.next_attempt_at <= ctx.now())
             .order_by(ExchangeBatch.next_attempt_at, ExchangeBatch.id).limit(limit))
    if ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(ctx.session.execute(query.execution_options(populate_existing=True)).scalars())


def send_due_batches(ctx: EngineContext, *, limit: int = 20, transport: Transport | None = None,
                     policy: RetryPolicy = IN_JOB_POLICY, sleep: Callable[[float], None] | None = None) -> int:
    """Send every confirmed system batch that is due; returns how many were delivered."""
    delivered = 0
    for batch in _claim_due(ctx, limit):
        delivered += _send_one(ctx, batch, transport, policy, sleep)
    return delivered


def _send_one(ctx: EngineContext, batch: ExchangeBatch, transport: Transport | None, policy: RetryPolicy,
              sleep: Callable[[float], None] | None) -> int:
    profile = require_profile(ctx, batch.unit)
    endpoint = profile.endpoint or ""
    scheme = endpoint.split(":", 1)[0]
    chosen = transport or (_transports[scheme](ctx) if scheme in _transports else None)
    extra: dict[str, Any] = {"transport": chosen} if chosen is not None else {}
    if sleep is not None:
        extra["sleep"] = sleep
    outcome = send_batch(endpoint, batch_payload(ctx, batch), key=unit_key(ctx, batch.unit), clock=ctx.clock,
                         policy=policy, idempotency_key=batch.batch_no, **extra)
    batch.attempts += len(outcome.attempts)
    if not outcome.ok:
        backoff = min(RESCHEDULE_MAX, RESCHEDULE_BASE * 2 ** min(batch.attempts, 10))
        batch.next_attempt_at = ctx.now() + backoff
        batch.last_error = outcome.error_code
        ctx.session.flush()
        log_batch(ctx, batch, "exchange_batch_send_failed", SENDER, outcome=outcome.to_dict(),
                  next_attempt_at=batch.next_attempt_at.isoformat())
        return 0
    batch.last_error, batch.next_attempt_at = None, None
    mark_sent(ctx, batch, SENDER, mode="system", outcome=outcome.to_dict())
    answer = outcome.response if isinstance(outcome.response, dict) else {}
    if isinstance(answer.get("results"), list) and answer.get("delivery_id"):
        _stage_immediate(ctx, batch, answer)
    return 1


def _stage_immediate(ctx: EngineContext, batch: ExchangeBatch, answer: dict[str, Any]) -> None:
    """Stage an answer given in the send response; a bad one is refused on record, the batch stays sent."""
    try:
        with ctx.session.begin_nested():
            registration = check_unit_officer(ctx, batch.unit, answer.get("officer"), answer_day(ctx.now()))
            stage_answer(ctx, batch, answer["results"], delivery_id=str(answer["delivery_id"]),
                         source=ExchangeMode.SYSTEM, actor=Actor.system(f"unit:{batch.unit.code}"),
                         officer=registration_username(ctx, registration))
    except HeduiError as exc:
        log_batch(ctx, batch, "exchange_answer_refused", SENDER, error=exc.code, message=exc.message,
                  officer=exc.details.get("officer"))


# --- receiving ---------------------------------------------------------------------------------------------


class DbKeyStore:
    """The units' keys from ``exchange_keys``; a retired key stays valid for a grace period (rotation)."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx

    def get(self, unit_code: str, key_id: str) -> UnitKey | None:
        row = self.ctx.session.execute(
            select(ExchangeKey, ExchangeProfile.signing_algorithm)
            .join(Unit, Unit.id == ExchangeKey.unit_id)
            .join(ExchangeProfile, ExchangeProfile.unit_id == Unit.id)
            .where(Unit.code == unit_code, ExchangeKey.key_id == key_id)).first()
        if row is None:
            return None
        key, algorithm = row
        until = key.retired_at + RETIRED_KEY_GRACE if key.retired_at is not None else None
        return UnitKey(unit_code, key.key_id, bytes(key.secret), algorithm=algorithm, valid_until=until)


class DbNonceStore:
    """Nonces in ``exchange_nonces``: the unique (unit, nonce) constraint makes ``remember`` atomic."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx

    def remember(self, unit_code: str, nonce: str, expires_at: datetime) -> bool:
        try:
            with self.ctx.session.begin_nested():
                self.ctx.session.add(ExchangeNonce(unit_code=unit_code, nonce=nonce, seen_at=self.ctx.now(),
                                                   expires_at=expires_at))
        except IntegrityError:
            return False
        return True


def verify_unit_request(ctx: EngineContext, headers: Mapping[str, str], method: str, path: str,
                        body: bytes) -> SignedRequest:
    """Check a unit's signature, timestamp and nonce (replays refused) — or raise a ``SignatureError``."""
    return verify(headers, method, path, body, keys=DbKeyStore(ctx), nonces=DbNonceStore(ctx), clock=ctx.clock)


#: the fields of a result delivery and of a delay notice: (type, most characters, required). ``officer`` may be
#: left out: that is the SD-3 refusal ``unit_officer_missing``, kept on record (``engine.exchange.officers``)
RESULTS_FIELDS: dict[str, tuple[type, int | None, bool]] = {
    "delivery_id": (str, 100, True), "batch_no": (str, 64, True), "officer": (str, 64, False),
    "results": (list, None, True)}
DELAY_FIELDS: dict[str, tuple[type, int | None, bool]] = {
    "case_no": (str, 64, True), "officer": (str, 64, False), "days": (int, None, True), "reason": (str, 500, True),
    "document_name": (str, 255, True), "document_base64": (str, None, True)}
_TYPE_NAMES = {str: "文本", int: "整数", list: "列表"}


def _json(body: bytes, fields: dict[str, tuple[type, int | None, bool]]) -> dict[str, Any]:
    """The signed body as a JSON object of exactly ``fields`` (422 naming each wrong one; nothing recorded)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValidationError("请求体不是有效的 JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("请求体应为 JSON 对象", code="invalid_json")
    errors: dict[str, list[str]] = {name: ["不允许的字段"] for name in sorted(set(data) - set(fields))}
    for name, (kind, limit, required) in fields.items():
        value = data.get(name)
        if value is None:
            if required:
                errors[name] = ["此项为必填项"]
        elif not isinstance(value, kind) or isinstance(value, bool):
            errors[name] = [f"应为{_TYPE_NAMES[kind]}"]
        elif limit is not None and len(cast(Sized, value)) > limit:  # only str and list fields have a limit
            errors[name] = [f"不超过 {limit} 字"]
    errors |= {where: [CONTROL_MESSAGE] for where in control_characters(data)}
    if errors:
        raise ValidationError(fields=errors)
    return data


def receive_results(ctx: EngineContext, headers: Mapping[str, str], body: bytes,
                    path: str = RESULTS_PATH) -> tuple[ExchangeImport, bool]:
    """Accept a unit's signed result delivery; returns the staged import and whether it is new.

    Body: ``{"delivery_id": str, "batch_no": str, "officer": str, "results": [{"request_id",
    "id_number", "category", "status": "has_data"|"no_record", "records": [{...raw fields...}]}]}``.
    ``officer`` names the unit-side officer who released it, filed for the unit on the date of
    the signed timestamp (SD-3); otherwise the delivery is refused on record and nothing is kept.
    """
    signed = verify_unit_request(ctx, headers, "POST", path, body)
    data = _json(body, RESULTS_FIELDS)
    delivery_id, batch_no = data["delivery_id"], data["batch_no"]
    if not delivery_id.strip():
        raise ValidationError("缺少 delivery_id 或 results", code="answer_invalid")
    batch = ctx.session.execute(select(ExchangeBatch).where(ExchangeBatch.batch_no == batch_no)
                                .with_for_update()).scalar_one_or_none()
    if batch is None or batch.unit.code != signed.unit_code:
        raise NotFoundError("批次不存在或不属于该单位", code="answer_wrong_batch")
    unit_actor = Actor.system(f"unit:{signed.unit_code}")
    registration = require_unit_officer(ctx, batch.unit, data.get("officer"), answer_day(signed.timestamp),
                                        batch=batch, actor=unit_actor, source="system", delivery_id=delivery_id)
    before = ctx.session.execute(select(ExchangeImport.id).where(
        ExchangeImport.unit_id == batch.unit_id, ExchangeImport.delivery_id == delivery_id)).first()
    staged = stage_answer(ctx, batch, data["results"], delivery_id=delivery_id, source=ExchangeMode.SYSTEM,
                          actor=unit_actor, officer=registration_username(ctx, registration))
    return staged, before is None


def receive_delay_notice(ctx: EngineContext, headers: Mapping[str, str], body: bytes,
                         path: str = DELAYS_PATH) -> ExchangeDelayNotice:
    """Accept a unit's signed written delay notice (DX-5): ``{"case_no", "officer", "days", "reason",
    "document_name", "document_base64"}``; at most 5 working days, once per request; ``officer``
    as for results (SD-3), checked on the date of the signed timestamp."""
    from engine.exchange.delays import find_request
    from engine.exchange.delays import record_delay_notice

    signed = verify_unit_request(ctx, headers, "POST", path, body)
    data = _json(body, DELAY_FIELDS)
    try:
        document = base64.b64decode(data["document_base64"], validate=True)
    except ValueError:
        raise ValidationError("延期说明文件编码不正确", fields={"document_base64": ["应为 base64"]}) from None
    request = find_request(ctx, data["case_no"], signed.unit_code)
    return record_delay_notice(ctx, request, days=data["days"], reason=data["reason"],
                               document_name=data["document_name"],
                               document=document, actor=Actor.system(f"unit:{signed.unit_code}"),
                               officer=data.get("officer"), on=answer_day(signed.timestamp))
