"""System-mode request signing (DX-3, DX-7): HMAC over a canonical request, nonce and timestamp.

Why: in system mode Hedui and a sharing unit call each other over a private network. Each side
must know who sent a request, that the body was not changed, and that it is not a replay. Both
sides share a symmetric key per unit, identified by a key id so keys can be rotated (a unit may
have several valid keys at once; the signer uses the newest, the verifier accepts any valid one).

API contract (stable; the exchange services and the API code against it)::

    key = UnitKey("CC-BANK", "k2026", secret_bytes, algorithm="hmac-sm3")   # or "hmac-sha256"
    body, headers = sign_json(key, "POST", "/exchange/requests", payload, clock=ctx.clock)
    headers = sign_request(key, "POST", "/exchange/requests", body, clock=ctx.clock)   # body: bytes
    signed = verify(headers, "POST", "/api/v1/exchange/results", body,
                    keys=key_store, nonces=nonce_store, clock=ctx.clock)
    signed.unit_code, signed.key_id, signed.nonce, signed.timestamp

- ``canonical_json(obj) -> bytes``: UTF-8, sorted keys, no insignificant whitespace. Senders
  put exactly these bytes on the wire; the signature covers the raw body bytes, so the receiver
  never re-serialises.
- Headers (:data:`HEADERS`): ``X-Hedui-Unit`` (sender's unit code), ``X-Hedui-Key-Id``,
  ``X-Hedui-Timestamp`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``), ``X-Hedui-Nonce`` (random, 32 hex),
  ``X-Hedui-Signature-Alg`` (``hmac-sha256`` | ``hmac-sm3``), ``X-Hedui-Signature`` (hex).
  Header lookup in :func:`verify` is case-insensitive.
- String to sign: ``HEDUI-SIG-1\\n<alg>\\n<METHOD>\\n<path>\\n<unit>\\n<key id>\\n<timestamp>\\n
  <nonce>\\n<sha256 hex of body>``. The path (no host, no query) is bound so a signed request
  cannot be replayed to another endpoint; both sides must use the same path.
- :func:`verify` checks, in this order: headers present and well formed (``bad_signature``),
  key known and valid at the clock's time (``unknown_key``), timestamp within ``max_skew``
  (``stale_timestamp``), signature by constant-time comparison (``bad_signature``), and only then
  the nonce (``replayed_nonce``), so forged requests cannot burn nonces. It raises a
  :class:`SignatureError` subclass whose ``code`` is one of those four.
- :class:`KeyStore` and :class:`NonceStore` are protocols; the services implement them over the
  database (a nonce table with a unique (unit, nonce) constraint). :class:`MemoryKeyStore` and
  :class:`MemoryNonceStore` are for tests and the in-process simulator.
- Time comes only from the injected clock (``engine.clock``); nothing here reads the wall clock.

Algorithms: ``hmac-sha256`` always; ``hmac-sm3`` when the installed ``cryptography``/OpenSSL
provides SM3 (:data:`SM3_AVAILABLE`; true on this project's pinned ``cryptography`` wheel). A
key whose algorithm is unavailable is refused with ``unknown_key``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from engine.clock import Clock
from engine.errors import PermissionDeniedError

HEADER_UNIT = "X-Hedui-Unit"
HEADER_KEY_ID = "X-Hedui-Key-Id"
HEADER_TIMESTAMP = "X-Hedui-Timestamp"
HEADER_NONCE = "X-Hedui-Nonce"
HEADER_ALGORITHM = "X-Hedui-Signature-Alg"
HEADER_SIGNATURE = "X-Hedui-Signature"
HEADERS = (HEADER_UNIT, HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_ALGORITHM, HEADER_SIGNATURE)

SCHEME = "HEDUI-SIG-1"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEFAULT_MAX_SKEW = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sm3_available() -> bool:
    try:
        h = crypto_hmac.HMAC(b"\0" * 32, hashes.SM3())
        h.update(b"probe")
        h.finalize()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not available in this build"
        return False


SM3_AVAILABLE = _sm3_available()
ALGORITHMS = ("hmac-sha256", "hmac-sm3") if SM3_AVAILABLE else ("hmac-sha256",)


class SignatureError(PermissionDeniedError):
    """A signed request was refused; ``code`` says why (stable, returned by the API)."""

    code = "bad_signature"
    message = "请求签名无效"


class BadSignatureError(SignatureError):
    code = "bad_signature"
    message = "请求签名无效或签名信息不完整"


class StaleTimestampError(SignatureError):
    code = "stale_timestamp"
    message = "请求时间戳超出允许范围，请校准时间后重试"


class ReplayedNonceError(SignatureError):
    code = "replayed_nonce"
    message = "重复的请求（随机数已使用），已拒绝"


class UnknownKeyError(SignatureError):
    code = "unknown_key"
    message = "未知或已失效的密钥"


@dataclass(frozen=True)
class UnitKey:
    """A shared secret of one sharing unit; ``valid_from``/``valid_until`` bound its use (rotation)."""

    unit_code: str
    key_id: str
    secret: bytes
    algorithm: str = "hmac-sha256"
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"UnitKey({self.unit_code!r}, {self.key_id!r}, algorithm={self.algorithm!r})"

    def is_valid_at(self, when: datetime) -> bool:
        if self.valid_from is not None and when < self.valid_from:
            return False
        return self.valid_until is None or when < self.valid_until


@dataclass(frozen=True)
class SignedRequest:
    """What :func:`verify` established about an accepted request."""

    unit_code: str
    key_id: str
    algorithm: str
    nonce: str
    timestamp: datetime


class KeyStore(Protocol):
    def get(self, unit_code: str, key_id: str) -> UnitKey | None:
        """The key, or None when the unit has no key with that id."""


class NonceStore(Protocol):
    def remember(self, unit_code: str, nonce: str, expires_at: datetime) -> bool:
        """Record the nonce atomically; False when (unit, nonce) was already recorded.

        Entries may be purged after ``expires_at``: older requests fail the timestamp check anyway.
        """


class MemoryKeyStore:
    """Keys in a dict (tests, simulator). ``current(unit)`` is the newest key valid at ``when``."""

    def __init__(self, keys: Iterable[UnitKey] = ()) -> None:
        self._keys: dict[tuple[str, str], UnitKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: UnitKey) -> None:
        self._keys[(key.unit_code, key.key_id)] = key

    def get(self, unit_code: str, key_id: str) -> UnitKey | None:
        return self._keys.get((unit_code, key_id))

    def current(self, unit_code: str, when: datetime) -> UnitKey | None:
        valid = [k for (u, _), k in self._keys.items() if u == unit_code and k.is_valid_at(when)]
        valid.sort(key=lambda k: k.valid_from or _EPOCH)  # stable: among equals, the last added wins
        return valid[-1] if valid else None


class MemoryNonceStore:
    """Nonces in a dict, thread-safe, purging expired ones as it goes."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def remember(self, unit_code: str, nonce: str, expires_at: datetime) -> bool:
        with self._lock:
            if (unit_code, nonce) in self._seen:
                return False
            self._seen[(unit_code, nonce)] = expires_at
            return True

    def purge(self, now: datetime) -> int:
        with self._lock:
            old = [k for k, exp in self._seen.items() if exp <= now]
            for k in old:
                del self._seen[k]
            return len(old)


def new_secret() -> bytes:
    """A fresh 32-byte key (for a unit key or a media key)."""
    return secrets.token_bytes(32)


def new_nonce() -> str:
    return secrets.token_hex(16)


def canonical_json(obj: Any) -> bytes:
    """The one byte form of a JSON payload that is signed and sent."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def format_timestamp(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def string_to_sign(algorithm: str, method: str, path: str, unit_code: str, key_id: str, timestamp: str,
                   nonce: str, body: bytes) -> bytes:
    parts = [SCHEME, algorithm, method.upper(), path, unit_code, key_id, timestamp, nonce,
             hashlib.sha256(body).hexdigest()]
    return "\n".join(parts).encode()


def compute_signature(algorithm: str, secret: bytes, message: bytes) -> str:
    if algorithm == "hmac-sha256":
        return hmac.new(secret, message, hashlib.sha256).hexdigest()
    if algorithm == "hmac-sm3" and SM3_AVAILABLE:
        mac = crypto_hmac.HMAC(secret, hashes.SM3())
        mac.update(message)
        return mac.finalize().hex()
    raise UnknownKeyError(f"不支持的签名算法：{algorithm}", algorithm=algorithm)


def sign_request(key: UnitKey, method: str, path: str, body: bytes, *, clock: Clock,
                 nonce: str | None = None) -> dict[str, str]:
    """The signature headers for one request; call again for every retry (new nonce, new time)."""
    timestamp = format_timestamp(clock.now())
    nonce = nonce or new_nonce()
    message = string_to_sign(key.algorithm, method, path, key.unit_code, key.key_id, timestamp, nonce, body)
    return {
        HEADER_UNIT: key.unit_code,
        HEADER_KEY_ID: key.key_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_ALGORITHM: key.algorithm,
        HEADER_SIGNATURE: compute_signature(key.algorithm, key.secret, message),
    }


def sign_json(key: UnitKey, method: str, path: str, payload: Any, *, clock: Clock,
              nonce: str | None = None) -> tuple[bytes, dict[str, str]]:
    """Canonical body bytes and headers (incl. ``Content-Type``) for a JSON payload."""
    body = canonical_json(payload)
    headers = sign_request(key, method, path, body, clock=clock, nonce=nonce)
    headers["Content-Type"] = "application/json; charset=utf-8"
    return body, headers


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    for k, v in headers.items():
        if k.lower() == lowered:
            return v
    raise BadSignatureError(f"缺少签名请求头 {name}", header=name)


def verify(headers: Mapping[str, str], method: str, path: str, body: bytes, *, keys: KeyStore,
           nonces: NonceStore, clock: Clock, max_skew: timedelta = DEFAULT_MAX_SKEW) -> SignedRequest:
    """Accept a signed request or raise a :class:`SignatureError` (see the module docstring)."""
    unit_code, key_id, stamp, nonce, algorithm, signature = (_header(headers, h) for h in HEADERS)
    if not (8 <= len(nonce) <= 128) or not nonce.isascii():
        raise BadSignatureError("随机数格式不正确")
    try:
        timestamp = datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise BadSignatureError("时间戳格式不正确") from None
    now = clock.now()
    key = keys.get(unit_code, key_id)
    if key is None or key.unit_code != unit_code or not key.is_valid_at(now):
        raise UnknownKeyError(unit=unit_code, key_id=key_id)
    if key.algorithm != algorithm or algorithm not in ALGORITHMS:
        raise UnknownKeyError("签名算法与密钥不符或不受支持", unit=unit_code, key_id=key_id)
    if abs(now - timestamp) > max_skew:
        raise StaleTimestampError(unit=unit_code)
    expected = compute_signature(algorithm, key.secret,
                                 string_to_sign(algorithm, method, path, unit_code, key_id, stamp, nonce, body))
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise BadSignatureError(unit=unit_code)
    if not nonces.remember(unit_code, nonce, timestamp + max_skew):
        raise ReplayedNonceError(unit=unit_code)
    return SignedRequest(unit_code, key_id, algorithm, nonce, timestamp)
