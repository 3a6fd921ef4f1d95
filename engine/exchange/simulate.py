"""Simulated sharing units for the demo and tests: answer pending batches in both modes.

The answers come from the deterministic synthetic registry (``engine.exchange.registry``) keyed
by ID number, and each unit behaves per its profile: at once, some working days later, with a
written delay notice first, or never. The simulator goes through the same doors as a real
unit: system answers are signed with the unit's key and pass ``receive_results`` (signature,
nonce, idempotence), media answers are encrypted packages an officer uploads. Units whose
endpoint is ``sim:<code>`` are answered in process when Hedui sends (``make run``). Every
answer names the unit's releasing officer (``registry.officer``), who must be filed in Hedui
on the unit side (``seed_demo`` / ``seed_demo_catalogue`` file the demo units' officers; SD-3).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.clock import local_date
from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.batches import batch_lines
from engine.exchange.delays import record_delay_notice
from engine.exchange.media import MediaKey
from engine.exchange.media import write_package
from engine.exchange.media_mode import PACKAGE_SUFFIX
from engine.exchange.media_mode import agency_code
from engine.exchange.registry import DEMO_BEHAVIOURS
from engine.exchange.registry import SyntheticRegistry
from engine.exchange.registry import UnitBehaviour
from engine.exchange.sender import TransportResponse
from engine.exchange.signing import sign_json
from engine.exchange.system_mode import RESULTS_PATH
from engine.exchange.system_mode import receive_results
from engine.exchange.system_mode import register_transport
from engine.exchange.system_mode import unit_key
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeMode
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import RequestStatus

#: the registry the demo units answer from
DEMO_REGISTRY = SyntheticRegistry(behaviours=DEMO_BEHAVIOURS)
DELAY_DOCUMENT = b"%PDF-1.4\n% simulated written delay notice (synthetic)\n%%EOF\n"


def answer_records(registry: SyntheticRegistry, unit_code: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unit's answer to a batch's lines, in the wire format of ``receive_results``."""
    out = []
    for line in lines:
        for answer in registry.answer(unit_code, line["categories"], line["id_number"] or "", line["name"]):
            out.append({"request_id": line["request_id"], "id_number": line["id_number"], "category": answer.category,
                        "status": answer.status, "records": [dict(r) for r in answer.records]})
    return out


def delivery_body(registry: SyntheticRegistry, batch_no: str, unit_code: str,
                  lines: list[dict[str, Any]]) -> dict[str, Any]:
    """A result delivery as the unit posts it, naming its releasing officer (SD-3)."""
    return {"delivery_id": f"sim-{batch_no}", "batch_no": batch_no, "officer": registry.officer(unit_code),
            "results": answer_records(registry, unit_code, lines)}


class SimulatedTransport:
    """Plays a ``sim:`` unit's exchange server: answers at once (``immediate``) or just accepts."""

    def __init__(self, ctx: EngineContext, registry: SyntheticRegistry = DEMO_REGISTRY) -> None:
        self.registry = registry

    def __call__(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                 timeout: float) -> TransportResponse:
        request = json.loads(body)
        unit_code = url.split(":", 1)[1]
        if self.registry.behaviour(unit_code).answer_after != 0:
            return TransportResponse(202, {}, json.dumps({"accepted": True}).encode())
        answer = delivery_body(self.registry, request["batch_no"], unit_code, request["lines"])
        return TransportResponse(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())


register_transport("sim", lambda ctx: SimulatedTransport(ctx))


@dataclass
class SimulationReport:
    system_answers: int = 0
    delay_notices: int = 0
    packages: list[Path] = field(default_factory=list)


def _elapsed(ctx: EngineContext, batch: ExchangeBatch) -> int:
    assert batch.sent_at is not None
    sent = local_date(batch.sent_at)
    return WorkingCalendar(ctx.session).working_days_between(sent, ctx.today())


def _answered(ctx: EngineContext, batch: ExchangeBatch) -> bool:
    return ctx.session.execute(select(ExchangeImport.id).where(ExchangeImport.batch_id == batch.id)).first() is not None


def simulate_pending(ctx: EngineContext, *, registry: SyntheticRegistry = DEMO_REGISTRY,
                     package_dir: Path | None = None, units: list[str] | None = None) -> SimulationReport:
    """Let the simulated units do what is due today: delay notices, late system answers, answer packages.

    :param package_dir: where media answer packages are written (none written without it).
    """
    report = SimulationReport()
    batches = ctx.session.execute(select(ExchangeBatch).where(ExchangeBatch.status == BatchStatus.SENT)
                                  .order_by(ExchangeBatch.id)).scalars().all()
    for batch in batches:
        code = batch.unit.code
        if (units and code not in units) or _answered(ctx, batch):
            continue
        behaviour, elapsed = registry.behaviour(code), _elapsed(ctx, batch)
        report.delay_notices += _maybe_delay(ctx, batch, behaviour, elapsed, registry.officer(code))
        if behaviour.answer_after is None or elapsed < behaviour.answer_after:
            continue
        if batch.mode is ExchangeMode.SYSTEM:
            post_results(ctx, batch, registry)
            report.system_answers += 1
        elif package_dir is not None and not answer_path(batch, package_dir).exists():
            report.packages.append(write_answer_package(ctx, batch, package_dir, registry))
    return report


def post_results(ctx: EngineContext, batch: ExchangeBatch, registry: SyntheticRegistry = DEMO_REGISTRY) -> None:
    """The unit posts its signed answer to Hedui's results endpoint (in process)."""
    body, headers = sign_json(unit_key(ctx, batch.unit), "POST", RESULTS_PATH,
                              delivery_body(registry, batch.batch_no, batch.unit.code, batch_lines(ctx, batch)),
                              clock=ctx.clock)
    receive_results(ctx, headers, body)


def answer_package(ctx: EngineContext, batch: ExchangeBatch, registry: SyntheticRegistry = DEMO_REGISTRY) -> bytes:
    """The unit's encrypted answer package for a media batch (what comes back on the disc)."""
    key = unit_key(ctx, batch.unit)
    out = io.BytesIO()
    write_package(out, answer_records(registry, batch.unit.code, batch_lines(ctx, batch)),
                  key=MediaKey(key.unit_code, key.key_id, key.secret), kind="result", batch_id=batch.batch_no,
                  sender_unit=batch.unit.code, receiver_unit=agency_code(batch), created_at=ctx.now(),
                  extra={"officer": registry.officer(batch.unit.code)})
    return out.getvalue()


def answer_path(batch: ExchangeBatch, directory: Path) -> Path:
    return directory / f"{batch.batch_no}-answer{PACKAGE_SUFFIX}"


def write_answer_package(ctx: EngineContext, batch: ExchangeBatch, directory: Path,
                         registry: SyntheticRegistry = DEMO_REGISTRY) -> Path:
    """Write the unit's answer package once (the simulator runs every sweep; the file is the disc)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = answer_path(batch, directory)
    path.write_bytes(answer_package(ctx, batch, registry))
    return path


def _maybe_delay(ctx: EngineContext, batch: ExchangeBatch, behaviour: UnitBehaviour, elapsed: int,
                 officer: str) -> int:
    if behaviour.notice_after is None or elapsed < behaviour.notice_after or not behaviour.extension_days:
        return 0
    requests = ctx.session.execute(select(ExchangeRequest).where(
        ExchangeRequest.batch_id == batch.id, ExchangeRequest.status == RequestStatus.SENT,
        ~ExchangeRequest.id.in_(select(ExchangeDelayNotice.request_id)))).scalars().all()
    for request in requests:
        record_delay_notice(ctx, request, days=behaviour.extension_days, reason="数据量大，无法按期反馈（模拟）",
                            document_name="延期说明.pdf", document=DELAY_DOCUMENT,
                            actor=Actor.system(f"unit:{batch.unit.code}"), officer=officer)
    return len(requests)
