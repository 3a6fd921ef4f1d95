"""System-mode request signing (DX-3, DX-7): signatures, key rotation, timestamps and replays."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from engine.clock import FixedClock
from engine.exchange import signing
from engine.exchange.signing import MemoryKeyStore
from engine.exchange.signing import MemoryNonceStore
from engine.exchange.signing import UnitKey
from engine.exchange.signing import canonical_json
from engine.exchange.signing import sign_json
from engine.exchange.signing import sign_request
from engine.exchange.signing import verify

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
PATH = "/api/v1/exchange/results"
PAYLOAD = {"batch_id": "B-42", "results": [{"name": "张三", "category": "deposits", "status": "has_data"}]}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(params=signing.ALGORITHMS)
def key(request: pytest.FixtureRequest) -> UnitKey:
    return UnitKey("CC-BANK", "k1", b"s" * 32, algorithm=request.param)


def _verify(headers: dict[str, str], body: bytes, keys: MemoryKeyStore, nonces: MemoryNonceStore,
            clock: FixedClock, path: str = PATH, method: str = "POST") -> signing.SignedRequest:
    return verify(headers, method, path, body, keys=keys, nonces=nonces, clock=clock)


def test_sm3_is_available_in_the_pinned_build() -> None:
    # the pinned cryptography wheel ships OpenSSL with SM3 and SM4; the code still degrades without them
    assert signing.SM3_AVAILABLE
    assert signing.ALGORITHMS == ("hmac-sha256", "hmac-sm3")


def test_sha256_signature_matches_an_independent_computation(clock: FixedClock) -> None:
    key = UnitKey("CC-BANK", "k1", b"secret-key-0123456789abcdef01234")
    body = canonical_json(PAYLOAD)
    headers = sign_request(key, "post", PATH, body, clock=clock, nonce="n" * 32)
    message = "\n".join(["HEDUI-SIG-1", "hmac-sha256", "POST", PATH, "CC-BANK", "k1", "2026-11-23T01:00:00Z",
                         "n" * 32, hashlib.sha256(body).hexdigest()]).encode()
    assert headers["X-Hedui-Signature"] == hmac.new(key.secret, message, hashlib.sha256).hexdigest()
    assert headers["X-Hedui-Timestamp"] == "2026-11-23T01:00:00Z"


def test_sm3_signature_matches_hashlib_sm3(clock: FixedClock) -> None:
    key = UnitKey("CC-BANK", "k1", b"k" * 32, algorithm="hmac-sm3")
    headers = sign_request(key, "POST", PATH, b"{}", clock=clock, nonce="a" * 32)
    message = signing.string_to_sign("hmac-sm3", "POST", PATH, "CC-BANK", "k1", headers["X-Hedui-Timestamp"],
                                     "a" * 32, b"{}")
    assert headers["X-Hedui-Signature"] == hmac.new(key.secret, message, "sm3").hexdigest()
    assert headers["X-Hedui-Signature"] != sign_request(UnitKey("CC-BANK", "k1", b"k" * 32), "POST", PATH, b"{}",
                                                        clock=clock, nonce="a" * 32)["X-Hedui-Signature"]


def test_canonical_json_is_stable_and_keeps_chinese() -> None:
    assert canonical_json({"b": 1, "a": "张三"}) == '{"a":"张三","b":1}'.encode()
    assert canonical_json({"a": "张三", "b": 1}) == canonical_json({"b": 1, "a": "张三"})


def test_a_signed_request_verifies_once(key: UnitKey, clock: FixedClock) -> None:
    keys, nonces = MemoryKeyStore([key]), MemoryNonceStore()
    body, headers = sign_json(key, "POST", PATH, PAYLOAD, clock=clock)
    clock.advance(seconds=30)
    lowered = {k.lower(): v for k, v in headers.items()}  # header names are case-insensitive
    signed = _verify(lowered, body, keys, nonces, clock)
    assert (signed.unit_code, signed.key_id, signed.algorithm) == ("CC-BANK", "k1", key.algorithm)
    assert signed.timestamp == T0
    with pytest.raises(signing.ReplayedNonceError) as refused:
        _verify(headers, body, keys, nonces, clock)
    assert refused.value.code == "replayed_nonce"


@pytest.mark.parametrize("change", ["body", "path", "method", "unit", "timestamp", "nonce", "signature"])
def test_any_change_breaks_the_signature(change: str, key: UnitKey, clock: FixedClock) -> None:
    other = UnitKey("CC-BDC", "k1", b"s" * 32, algorithm=key.algorithm)
    keys, nonces = MemoryKeyStore([key, other]), MemoryNonceStore()
    body, headers = sign_json(key, "POST", PATH, PAYLOAD, clock=clock)
    path, method = PATH, "POST"
    if change == "body":
        body = body.replace(b"has_data", b"no_record")
    elif change == "path":
        path = "/api/v1/exchange/other"
    elif change == "method":
        method = "PUT"
    elif change == "unit":
        headers["X-Hedui-Unit"] = "CC-BDC"  # same secret, other unit: still refused
    elif change == "timestamp":
        headers["X-Hedui-Timestamp"] = "2026-11-23T01:00:01Z"
    elif change == "nonce":
        headers["X-Hedui-Nonce"] = "f" * 32
    else:
        headers["X-Hedui-Signature"] = headers["X-Hedui-Signature"][:-1] + "0"
        if headers["X-Hedui-Signature"] == sign_json(key, "POST", PATH, PAYLOAD, clock=clock,
                                                     nonce=headers["X-Hedui-Nonce"])[1]["X-Hedui-Signature"]:
            headers["X-Hedui-Signature"] = headers["X-Hedui-Signature"][:-1] + "1"
    with pytest.raises(signing.BadSignatureError) as refused:
        _verify(headers, body, keys, nonces, clock, path=path, method=method)
    assert refused.value.code == "bad_signature"
    assert refused.value.message


def test_a_refused_signature_does_not_burn_the_nonce(key: UnitKey, clock: FixedClock) -> None:
    keys, nonces = MemoryKeyStore([key]), MemoryNonceStore()
    body, headers = sign_json(key, "POST", PATH, PAYLOAD, clock=clock)
    with pytest.raises(signing.BadSignatureError):
        _verify(headers, body + b" ", keys, nonces, clock)
    assert _verify(headers, body, keys, nonces, clock).nonce == headers["X-Hedui-Nonce"]


@pytest.mark.parametrize("skew", [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)])
def test_stale_or_future_timestamps_are_refused(skew: timedelta, key: UnitKey, clock: FixedClock) -> None:
    keys, nonces = MemoryKeyStore([key]), MemoryNonceStore()
    body, headers = sign_json(key, "POST", PATH, PAYLOAD, clock=clock)
    clock.advance(skew)
    with pytest.raises(signing.StaleTimestampError) as refused:
        _verify(headers, body, keys, nonces, clock)
    assert refused.value.code == "stale_timestamp"
    clock.set(T0 + skew / 2)  # within the window the same request is fine
    _verify(headers, body, keys, nonces, clock)


def test_unknown_key_id_unit_or_algorithm_is_refused(key: UnitKey, clock: FixedClock) -> None:
    keys, nonces = MemoryKeyStore([key]), MemoryNonceStore()
    for stranger in (UnitKey("CC-BANK", "k9", b"s" * 32, algorithm=key.algorithm),
                     UnitKey("CC-SW", "k1", b"s" * 32, algorithm=key.algorithm)):
        body, headers = sign_json(stranger, "POST", PATH, PAYLOAD, clock=clock)
        with pytest.raises(signing.UnknownKeyError) as refused:
            _verify(headers, body, keys, nonces, clock)
        assert refused.value.code == "unknown_key"
    body, headers = sign_json(key, "POST", PATH, PAYLOAD, clock=clock)
    headers["X-Hedui-Signature-Alg"] = "hmac-md5"
    with pytest.raises(signing.UnknownKeyError):
        _verify(headers, body, keys, nonces, clock)


def test_missing_or_malformed_headers_are_bad_signatures(key: UnitKey, clock: FixedClock) -> None:
    keys, nonces = MemoryKeyStore([key]), MemoryNonceStore()
    body, headers = sign_json(key, "POST", PATH, PAYLOAD, clock=clock)
    for name, value in (("X-Hedui-Nonce", None), ("X-Hedui-Timestamp", "yesterday"), ("X-Hedui-Nonce", "short")):
        broken = dict(headers)
        if value is None:
            del broken[name]
        else:
            broken[name] = value
        with pytest.raises(signing.BadSignatureError):
            _verify(broken, body, keys, nonces, clock)


def test_key_rotation_accepts_both_keys_until_the_old_one_expires(clock: FixedClock) -> None:
    old = UnitKey("CC-BANK", "2025", b"o" * 32, valid_until=T0 + timedelta(days=7))
    new = UnitKey("CC-BANK", "2026", b"n" * 32, valid_from=T0)
    keys, nonces = MemoryKeyStore([old, new]), MemoryNonceStore()
    assert keys.current("CC-BANK", T0) == new
    assert MemoryKeyStore([new, old]).current("CC-BANK", T0) == new  # newest by validity, not by insertion
    assert keys.current("CC-BANK", T0 - timedelta(days=1)) == old
    for k in (old, new):
        body, headers = sign_json(k, "POST", PATH, PAYLOAD, clock=clock)
        assert _verify(headers, body, keys, nonces, clock).key_id == k.key_id
    clock.advance(days=7)
    body, headers = sign_json(old, "POST", PATH, PAYLOAD, clock=clock)
    with pytest.raises(signing.UnknownKeyError):
        _verify(headers, body, keys, nonces, clock)


def test_nonce_store_expiry_and_isolation_between_units() -> None:
    store = MemoryNonceStore()
    assert store.remember("CC-BANK", "n1", T0)
    assert store.remember("CC-SW", "n1", T0)  # nonces are per unit
    assert not store.remember("CC-BANK", "n1", T0)
    assert store.purge(T0) == 2
    assert store.remember("CC-BANK", "n1", T0)


def test_secrets_never_appear_in_reprs() -> None:
    key = UnitKey("CC-BANK", "k1", b"top-secret-value-0123456789abcde")
    assert "top-secret" not in repr(key)
    assert len(signing.new_secret()) == 32 and signing.new_secret() != signing.new_secret()
