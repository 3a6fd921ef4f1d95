"""Sending a signed batch to a unit endpoint (DX-3, DX-7): a real local HTTP server, no sleeping."""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import ssl
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FixedClock
from engine.exchange.sender import RetryPolicy
from engine.exchange.sender import TransportError
from engine.exchange.sender import TransportResponse
from engine.exchange.sender import UrllibTransport
from engine.exchange.sender import send_batch
from engine.exchange.signing import MemoryKeyStore
from engine.exchange.signing import MemoryNonceStore
from engine.exchange.signing import SignatureError
from engine.exchange.signing import UnitKey
from engine.exchange.signing import verify

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
KEY = UnitKey("CC-BANK", "k1", b"b" * 32, algorithm="hmac-sm3")
PAYLOAD = {"batch_id": "B-42", "requests": [{"line": 1, "name": "张三", "categories": ["deposits"]}]}
POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, multiplier=2.0, max_delay=5.0, timeout=5.0)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (time-out test) breaks the pipe; nothing to report


@dataclass
class UnitServer:
    """A sharing unit's endpoint: verifies each request's signature, then answers from a script."""

    script: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    server: ThreadingHTTPServer | None = None
    tls: ssl.SSLContext | None = None

    def start(self) -> None:
        unit = self
        keys, nonces, clock = MemoryKeyStore([KEY]), MemoryNonceStore(), FixedClock(T0)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    signed = verify(dict(self.headers), "POST", self.path, body, keys=keys, nonces=nonces,
                                    clock=clock)
                    verdict = signed.nonce
                except SignatureError as exc:
                    verdict = exc.code
                unit.received.append({"verdict": verdict, "headers": dict(self.headers), "body": body})
                status, headers, answer = unit.script.pop(0) if unit.script else (200, {}, {"accepted": True})
                if status == 0:  # hang until the test releases it (client timeout)
                    unit.release.wait(5)
                    status = 200
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output (and ID numbers) out of stderr
                pass

        self.server = _QuietServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hedui/exchange"


@pytest.fixture
def unit() -> Iterator[UnitServer]:
    server = UnitServer()
    server.start()
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send(url: str, sleep: Callable[[float], None], **kwargs: Any) -> Any:
    kwargs.setdefault("policy", POLICY)
    return send_batch(url, PAYLOAD, key=KEY, clock=FixedClock(T0), sleep=sleep, rng=random.Random(7), **kwargs)  # noqa: S311


def test_delivered_at_once_with_a_valid_signature(unit: UnitServer) -> None:
    unit.script = [(202, {}, {"accepted": 1, "answer": "later"})]
    sleeps: list[float] = []
    outcome = _send(unit.url, sleeps.append, idempotency_key="batch-B-42")
    assert outcome.ok and outcome.status == "delivered" and outcome.http_status == 202
    assert outcome.response == {"accepted": 1, "answer": "later"}
    assert len(outcome.attempts) == 1 and sleeps == []
    request = unit.received[0]
    assert len(request["verdict"]) == 32  # the unit accepted the signature (a nonce, not an error code)
    assert json.loads(request["body"]) == PAYLOAD
    assert request["headers"]["Idempotency-Key"] == "batch-B-42"
    assert outcome.to_dict() == {"status": "delivered", "http_status": 202, "error_code": None, "attempts": 1,
                                 "retry_after": None}


def test_unit_outage_then_recovery() -> None:
    unit = UnitServer(port=_free_port())  # nothing listens yet: connection refused
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            unit.start()  # the unit comes back during the second back-off
    try:
        outcome = _send(unit.url, sleep)
    finally:
        unit.stop()
    assert outcome.ok and len(outcome.attempts) == 3
    assert [a.error_code for a in outcome.attempts] == ["connection_error", "connection_error", None]
    assert all(a.retryable for a in outcome.attempts[:2])
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0  # full jitter under the exponential ceiling
    assert len(unit.received) == 1


def test_server_errors_are_retried_with_fresh_signatures_and_one_idempotency_key(unit: UnitServer) -> None:
    unit.script = [(503, {"Retry-After": "3"}, {"error": "busy"}), (500, {}, {}), (429, {}, {})]
    sleeps: list[float] = []
    outcome = _send(unit.url, sleeps.append)
    assert outcome.ok and [a.http_status for a in outcome.attempts] == [503, 500, 429, 200]
    assert sleeps[0] >= 3.0  # Retry-After honoured
    assert len(sleeps) == 3 and all(s <= POLICY.max_delay for s in sleeps)
    nonces = [r["verdict"] for r in unit.received]
    assert len(set(nonces)) == 4 and all(len(n) == 32 for n in nonces)  # no retry refused as a replay
    assert len({r["headers"]["Idempotency-Key"] for r in unit.received}) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_a_permanent_refusal_is_not_retried(unit: UnitServer, status: int) -> None:
    unit.script = [(status, {}, {"error": "bad_signature", "message": "签名无效"})]
    sleeps: list[float] = []
    outcome = _send(unit.url, sleeps.append)
    assert outcome.status == "refused" and not outcome.ok
    assert outcome.error_code == f"http_{status}" and outcome.http_status == status
    assert outcome.response["error"] == "bad_signature"
    assert len(outcome.attempts) == 1 and not outcome.attempts[0].retryable and sleeps == []


def test_retries_are_bounded(unit: UnitServer) -> None:
    unit.script = [(502, {}, {})] * 10
    sleeps: list[float] = []
    outcome = _send(unit.url, sleeps.append)
    assert outcome.status == "retries_exhausted" and outcome.error_code == "http_502"
    assert len(outcome.attempts) == POLICY.max_attempts and len(sleeps) == POLICY.max_attempts - 1
    assert outcome.attempts[-1].delay_after is None


def test_redirects_are_not_followed(unit: UnitServer) -> None:
    unit.script = [(302, {"Location": "http://127.0.0.1:1/elsewhere"}, {})]
    outcome = _send(unit.url, lambda s: None)
    assert outcome.status == "refused" and outcome.http_status == 302


def test_a_hanging_unit_times_out_and_is_retried(unit: UnitServer) -> None:
    unit.script = [(0, {}, {})]
    policy = RetryPolicy(max_attempts=2, timeout=0.2)
    outcome = _send(unit.url, lambda s: unit.release.set(), policy=policy)
    assert [a.error_code for a in outcome.attempts] == ["timeout", None]
    assert outcome.ok


def test_an_injected_transport_replaces_http() -> None:
    calls: list[dict[str, Any]] = []

    def transport(method: str, url: str, body: bytes, headers: Any, timeout: float) -> TransportResponse:
        calls.append({"url": url, "timeout": timeout})
        if len(calls) == 1:
            raise TransportError("connection_error")
        return TransportResponse(200, {}, b"not json")

    outcome = _send("https://unit.example/x", lambda s: None, transport=transport)
    assert outcome.ok and outcome.response is None and calls[0]["timeout"] == POLICY.timeout


def test_back_off_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=1.0, multiplier=2.0, max_delay=10.0)
    rng = random.Random(1)  # noqa: S311
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
    assert policy.delay(1, rng, retry_after=60) == 10.0  # Retry-After is capped too


def test_urllib_transport_reports_connection_errors() -> None:
    with pytest.raises(TransportError) as exc:
        UrllibTransport()("POST", f"http://127.0.0.1:{_free_port()}/x", b"{}", {}, 1.0)
    assert exc.value.code == "connection_error"


def test_urllib_transport_only_speaks_http() -> None:
    with pytest.raises(ValueError):
        UrllibTransport()("POST", "file:///etc/passwd", b"{}", {}, 1.0)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as a private exchange network would have."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CC-BANK exchange")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "unit.pem", tmp_path / "unit.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_with_the_units_certificate_and_refusal_of_an_unknown_one(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    unit = UnitServer(tls=tls)
    unit.start()
    try:
        outcome = _send(unit.url, lambda s: None, transport=UrllibTransport(cafile=str(cert)))
        assert outcome.ok and len(unit.received[0]["verdict"]) == 32
        sleeps: list[float] = []
        untrusted = _send(unit.url, sleeps.append, transport=UrllibTransport())  # system CAs only
    finally:
        unit.stop()
    assert untrusted.status == "refused" and untrusted.error_code == "tls_error" and sleeps == []
