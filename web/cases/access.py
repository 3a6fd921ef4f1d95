"""The access log of personal data (SEC-12): every view, unmasking and ID-number search is an event.

Events go to the *system* stream (a case's own stream is its replay log). They name the
user, role, purpose and case, never an ID number: a search records a keyed hash of the
number searched. The key (derived from the deployment's ``SECRET_KEY``) matters because the
~10^10 plausible numbers are few enough to reverse a plain sha256 by enumeration; an
auditor who needs to know "was this person searched?" asks the system to hash the number.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import current_app

from engine.audit import record_access
from engine.context import Actor
from engine.context import EngineContext
from engine.history import append_system_event
from engine.models import Event
from engine.models import WorkflowInstance

_KEY_LABEL = b"hedui:id-number-hash:v1"


def id_number_hash(number: str) -> str:
    """``hmac-sha256:<hex>`` of a normalised ID number, keyed per deployment."""
    key = hmac.new(str(current_app.config["SECRET_KEY"]).encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()
    return "hmac-sha256:" + hmac.new(key, number.encode("ascii"), hashlib.sha256).hexdigest()


def record_viewed(ctx: EngineContext, instance: WorkflowInstance, actor: Actor, *, page: str) -> Event:
    return record_access(ctx, "personal_data_viewed", instance, actor=actor, via="web", page=page)


def record_unmasked(ctx: EngineContext, instance: WorkflowInstance, actor: Actor, *, purpose: str, note: str | None,
                    person_ids: list[int]) -> Event:
    return record_access(ctx, "personal_data_unmasked", instance, actor=actor, via="web", purpose=purpose,
                         note=note, person_ids=person_ids)


def record_searched(ctx: EngineContext, actor: Actor, *, number: str, purpose: str, note: str | None,
                    case_nos: list[str]) -> Event:
    """An ID-number search: who, why, a keyed hash of the number, and which cases it found."""
    payload: dict[str, Any] = {"via": "web", "purpose": purpose, "note": note, "id_hash": id_number_hash(number),
                               "results": len(case_nos), "case_nos": case_nos}
    return append_system_event(ctx, kind="personal_data_searched", actor=actor, payload=payload)
