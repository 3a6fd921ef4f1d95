"""Delivering a signed JSON batch to a sharing unit's endpoint (DX-3, DX-7) with retries.

Why: in system mode the sending job must survive a unit that is briefly down (retry with
exponential back-off and jitter) without hammering it, must not retry what the unit refused for
good (4xx), and must hand the caller a structured outcome to record in the history. A unit that
stays down ends in ``retries_exhausted`` quickly (bounded attempts and delays), so the job can
reschedule it and carry on with other units.

API contract (stable; the sending job codes against it)::

    outcome = send_batch("https://bank.example/hedui/exchange", payload, key=unit_key, clock=ctx.clock,
                         idempotency_key="batch-42")
    outcome.status        # "delivered" | "refused" | "retries_exhausted"
    outcome.ok            # delivered (2xx)
    outcome.http_status   # last HTTP status or None (connection error)
    outcome.response      # parsed JSON body of the last response, or None
    outcome.error_code    # when not ok: "http_<status>" | "connection_error" | "timeout" | "tls_error"
    outcome.attempts      # [Attempt(number, http_status, error_code, retryable, delay_after)]
    outcome.retry_after   # seconds the unit asked for (Retry-After) when exhausted, else None

- ``payload`` is serialised once with :func:`engine.exchange.signing.canonical_json`; every
  attempt is signed afresh (new nonce and timestamp, so a retry is never refused as a replay) with
  the URL's path bound into the signature. ``Idempotency-Key`` (default: the body's SHA-256) is the
  same on every attempt so the unit can answer a repeated delivery with its first answer.
- Classification: 2xx delivered; 408, 425, 429, 5xx, connection errors and timeouts are
  retryable; every other status (4xx; 3xx, since redirects are not followed) and a certificate
  that does not verify (``tls_error``) are permanent refusals.
- Back-off (:class:`RetryPolicy`): delay before attempt n+1 = uniform(0, min(max_delay,
  base_delay * multiplier ** (n-1))) ("full jitter"); a ``Retry-After`` in seconds raises it,
  capped at ``max_delay``. ``sleep`` and ``rng`` are injected (tests never sleep).
- Transport: :class:`UrllibTransport` (standard library; HTTPS with an optional CA file and client
  certificate for the private network). Any callable ``(method, url, body, headers, timeout) ->
  TransportResponse`` that raises :class:`TransportError` on connection failure can replace it.
  The standard library was chosen over ``httpx``: one request per call, no pooling needed, and
  no new dependency.
- Nothing is logged here (payloads carry ID numbers); the caller records the outcome.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from engine.clock import Clock
from engine.exchange.signing import UnitKey
from engine.exchange.signing import canonical_json
from engine.exchange.signing import sign_request

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
RETRYABLE_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class TransportResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """The request got no HTTP response: ``code`` "connection_error" or "timeout" (retryable), or
    "tls_error" (the unit's certificate does not verify: a configuration problem, not retried)."""

    def __init__(self, code: str, detail: str = "", *, retryable: bool = True) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.retryable = retryable


class Transport(Protocol):
    def __call__(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                 timeout: float) -> TransportResponse: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class UrllibTransport:
    """HTTP(S) with the standard library; HTTP error statuses are responses, not exceptions."""

    def __init__(self, *, cafile: str | None = None, certfile: str | None = None,
                 keyfile: str | None = None) -> None:
        context = ssl.create_default_context(cafile=cafile)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())

    def __call__(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                 timeout: float) -> TransportResponse:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("unit endpoints are http(s) URLs")
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return TransportResponse(response.status, dict(response.headers), response.read(MAX_RESPONSE_BYTES))
        except urllib.error.HTTPError as exc:
            with exc:
                return TransportResponse(exc.code, dict(exc.headers or {}), exc.read(MAX_RESPONSE_BYTES))
        except TimeoutError as exc:
            raise TransportError("timeout", type(exc).__name__) from None
        except urllib.error.URLError as exc:
            raise _transport_error(exc.reason) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _transport_error(exc) from None


def _transport_error(reason: object) -> TransportError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return TransportError("tls_error", reason.verify_message or "certificate", retryable=False)
    if isinstance(reason, TimeoutError):
        return TransportError("timeout", type(reason).__name__)
    return TransportError("connection_error", type(reason).__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    timeout: float = 10.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))
        wait = rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


@dataclass(frozen=True)
class Attempt:
    number: int
    http_status: int | None
    error_code: str | None
    retryable: bool
    delay_after: float | None = None


@dataclass
class SendOutcome:
    status: str
    http_status: int | None
    response: Any
    error_code: str | None
    attempts: list[Attempt] = field(default_factory=list)
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "delivered"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for the history (no payload, no response body)."""
        return {"status": self.status, "http_status": self.http_status, "error_code": self.error_code,
                "attempts": len(self.attempts), "retry_after": self.retry_after}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None  # HTTP-date form: ignore, the back-off applies
    return None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def send_batch(url: str, payload: Any, *, key: UnitKey, clock: Clock, transport: Transport | None = None,
               policy: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
               rng: random.Random | None = None, idempotency_key: str | None = None,
               method: str = "POST") -> SendOutcome:
    """POST the signed payload until delivered, refused, or out of attempts (see module docstring)."""
    transport = transport or UrllibTransport()
    policy = policy or RetryPolicy()
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    body = canonical_json(payload)
    path = urllib.parse.urlsplit(url).path or "/"
    idempotency_key = idempotency_key or hashlib.sha256(body).hexdigest()
    attempts: list[Attempt] = []
    outcome = SendOutcome("retries_exhausted", None, None, None, attempts)
    for number in range(1, policy.max_attempts + 1):
        headers = sign_request(key, method, path, body, clock=clock)
        headers.update({"Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
                        "Idempotency-Key": idempotency_key})
        retry_after = None
        try:
            response = transport(method, url, body, headers, policy.timeout)
        except TransportError as exc:
            status, error_code, retryable, parsed = None, exc.code, exc.retryable, None
        else:
            status, parsed = response.status, _json_or_none(response.body)
            if 200 <= status < 300:
                attempts.append(Attempt(number, status, None, False))
                return SendOutcome("delivered", status, parsed, None, attempts)
            error_code, retryable = f"http_{status}", status in RETRYABLE_STATUSES
            retry_after = _retry_after(response.headers)
        outcome = SendOutcome("retries_exhausted" if retryable else "refused", status, parsed, error_code,
                              attempts, retry_after)
        if not retryable or number == policy.max_attempts:
            attempts.append(Attempt(number, status, error_code, retryable))
            return outcome
        delay = policy.delay(number, rng, retry_after)
        attempts.append(Attempt(number, status, error_code, retryable, delay))
        sleep(delay)
    return outcome
