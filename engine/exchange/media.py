"""Media-mode exchange packages (DX-1, DX-2): one encrypted, authenticated file per batch.

Why: in media mode a batch travels on an encrypted disc or USB stick. The file must be
unreadable without the unit's key, and any change, truncation, reordering or mix-up with another
package must be detected *before* anything is applied. Batches of 10,000+ persons must stream:
memory does not grow with the number of records.

API contract (stable; the exchange services code against it)::

    key = MediaKey("CC-BANK", "k2026", secret32)          # 32-byte secret per unit and key id
    manifest = write_package(fileobj, records, key=key, kind="request", batch_id="42",
                             sender_unit="CY-HDZX", receiver_unit="CC-BANK", created_at=ctx.now())
    reader = PackageReader(fileobj, keys, kind="result", batch_id="42",
                           sender_unit="CC-BANK", receiver_unit="CY-HDZX")
    manifest = reader.verify()        # pass 1: everything checked, nothing yielded; raises PackageError
    for record in reader.records():   # pass 2: re-authenticated chunk by chunk while yielding
        ...
    header = read_header(fileobj)     # unauthenticated peek (for showing what was uploaded)

- ``records`` is any iterable of JSON-serialisable dicts (str/int/bool/None/list/dict; convert
  dates and Decimals to strings first). :class:`PackageWriter` is the push-style equivalent
  (``write(record)`` ... ``close() -> Manifest``). ``batch_id`` is stored as a string.
- ``keys`` is ``(unit_code, key_id) -> bytes | None`` or a mapping with those tuple keys. The
  key belongs to the sharing unit (``key.unit_code``), whichever direction the package goes. The
  same 32-byte secret may also serve as the signing key: derived keys are domain-separated.
- ``fileobj`` for the reader must be seekable (a temp file or ``BytesIO``); the writer only writes.
- :class:`Manifest`: format_version, package_id (fresh uuid per package: the services refuse a
  duplicate import by it), kind (``request`` | ``result``), batch_id, sender_unit, receiver_unit,
  created_at (ISO 8601), algorithm, key_unit, key_id, extra (caller's static metadata),
  record_count, chunk_count, records_sha256 (SHA-256 over each record's canonical JSON + LF).
- Errors (:class:`PackageError`, a ``ValidationError``; stable ``code``, Chinese message):
  ``package_unsupported_version`` (unknown format or algorithm not in this build),
  ``package_foreign`` (no key for its unit/key id, wrong key, or units other than expected),
  ``package_tampered`` (not a package, any authentication failure, digest or count mismatch),
  ``package_truncated`` (file ends before the final chunk), ``package_wrong_kind``,
  ``package_wrong_batch``. Checks run in that spirit: format, key, integrity of the whole
  file, then the expectations (units, kind, batch), so a tampered field is reported as tampering.

Cipher: SM4-GCM where the installed ``cryptography`` supports it, AES-256-GCM otherwise
(:data:`DEFAULT_ALGORITHM`), named in the header; per-package keys by HKDF-SHA256 from the unit
secret; every chunk has its own nonce and its index, final flag and the header digest in its AAD.
The byte layout is specified in ``docs/exchange-protocol.md``; its constants, errors and primitives
are in :mod:`engine.exchange.media_format` (re-exported here, the names callers use).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import BinaryIO
from typing import Protocol

from cryptography.exceptions import InvalidTag

from engine.exchange.media_format import ALGORITHMS
from engine.exchange.media_format import DEFAULT_ALGORITHM
from engine.exchange.media_format import FINAL
from engine.exchange.media_format import FORMAT_VERSION
from engine.exchange.media_format import FRAME
from engine.exchange.media_format import KEY_BYTES
from engine.exchange.media_format import KINDS
from engine.exchange.media_format import MAGIC
from engine.exchange.media_format import MAX_FRAME_BYTES
from engine.exchange.media_format import MAX_HEADER_BYTES
from engine.exchange.media_format import NONCE_BYTES
from engine.exchange.media_format import PREAMBLE
from engine.exchange.media_format import SM4_GCM_AVAILABLE
from engine.exchange.media_format import TAG_BYTES
from engine.exchange.media_format import KeyLookup
from engine.exchange.media_format import Manifest
from engine.exchange.media_format import MediaKey
from engine.exchange.media_format import PackageError
from engine.exchange.media_format import PackageForeignError
from engine.exchange.media_format import PackageTamperedError
from engine.exchange.media_format import PackageTruncatedError
from engine.exchange.media_format import PackageUnsupportedVersionError
from engine.exchange.media_format import PackageWrongBatchError
from engine.exchange.media_format import PackageWrongKindError
from engine.exchange.media_format import derive_key
from engine.exchange.media_format import frame_aad
from engine.exchange.media_format import frame_cipher
from engine.exchange.media_format import key_check
from engine.exchange.media_format import manifest_of
from engine.exchange.media_format import parse_header
from engine.exchange.media_format import read_exact
from engine.exchange.media_format import read_header
from engine.exchange.signing import canonical_json

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "FORMAT_VERSION",
    "KINDS",
    "KeyLookup",
    "MAGIC",
    "MAX_FRAME_BYTES",
    "MAX_HEADER_BYTES",
    "Manifest",
    "MediaKey",
    "NONCE_BYTES",
    "PackageError",
    "PackageForeignError",
    "PackageReader",
    "PackageTamperedError",
    "PackageTruncatedError",
    "PackageUnsupportedVersionError",
    "PackageWriter",
    "PackageWrongBatchError",
    "PackageWrongKindError",
    "SM4_GCM_AVAILABLE",
    "TAG_BYTES",
    "read_header",
    "write_package",
]


class BinaryWriter(Protocol):
    """What the writer needs of its output (a file, ``BytesIO``, a hashing pass-through)."""

    def write(self, data: bytes, /) -> int: ...


class PackageWriter:
    """Streams records into an encrypted package; ``close()`` writes the trailer."""

    def __init__(self, fileobj: BinaryWriter, *, key: MediaKey, kind: str, batch_id: str | int, sender_unit: str,
                 receiver_unit: str, created_at: datetime, extra: Mapping[str, Any] | None = None,
                 algorithm: str | None = None, chunk_records: int = 500, chunk_bytes: int = 1024 * 1024) -> None:
        algorithm = algorithm or DEFAULT_ALGORITHM
        if algorithm not in ALGORITHMS:
            raise PackageUnsupportedVersionError(f"本机加密库不支持 {algorithm}", algorithm=algorithm)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if len(key.secret) != 32:
            raise ValueError("media keys are 32 bytes")
        if created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        self._out = fileobj
        self._chunk_records = chunk_records
        self._chunk_bytes = chunk_bytes
        salt = os.urandom(16)
        header: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "package_id": uuid.uuid4().hex, "kind": kind,
            "batch_id": str(batch_id), "sender_unit": sender_unit, "receiver_unit": receiver_unit,
            "created_at": created_at.astimezone(UTC).isoformat(), "algorithm": algorithm,
            "key_unit": key.unit_code, "key_id": key.key_id, "extra": dict(extra or {}),
            "salt": base64.b64encode(salt).decode(),
        }
        header["key_check"] = key_check(key.secret, salt, header)
        self._header = header
        self._key = derive_key(key.secret, salt, "encrypt", KEY_BYTES[algorithm], header)
        header_bytes = canonical_json(header)
        preamble = PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_bytes))
        self._header_digest = hashlib.sha256(preamble + header_bytes).digest()
        self._out.write(preamble + header_bytes)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._index = 0
        self._count = 0
        self._digest = hashlib.sha256()
        self._manifest: Manifest | None = None

    def write(self, record: Mapping[str, Any]) -> None:
        if self._manifest is not None:
            raise ValueError("package already closed")
        line = canonical_json(record) + b"\n"
        if len(line) > MAX_FRAME_BYTES - TAG_BYTES:
            raise ValueError("a record larger than a frame cannot be packaged")
        self._digest.update(line)
        self._buffer.append(line)
        self._buffered += len(line)
        self._count += 1
        if len(self._buffer) >= self._chunk_records or self._buffered >= self._chunk_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._frame(b"".join(self._buffer), final=False)
            self._buffer, self._buffered = [], 0

    def _frame(self, plaintext: bytes, *, final: bool) -> None:
        nonce = os.urandom(NONCE_BYTES)
        enc = frame_cipher(self._header["algorithm"], self._key, nonce).encryptor()
        enc.authenticate_additional_data(frame_aad(self._header_digest, self._index, final))
        ciphertext = enc.update(plaintext) + enc.finalize() + enc.tag
        self._out.write(FRAME.pack(FINAL if final else 0, len(ciphertext)) + nonce + ciphertext)
        self._index += 1

    def close(self) -> Manifest:
        if self._manifest is None:
            self._flush()
            trailer = {"record_count": self._count, "chunk_count": self._index + 1,
                       "records_sha256": self._digest.hexdigest()}
            self._frame(canonical_json(trailer), final=True)
            self._manifest = manifest_of(self._header, trailer)
        return self._manifest

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()


def write_package(fileobj: BinaryWriter, records: Iterable[Mapping[str, Any]], **kwargs: Any) -> Manifest:
    """Write every record of ``records`` (consumed lazily) as one package; see :class:`PackageWriter`."""
    writer = PackageWriter(fileobj, **kwargs)
    for record in records:
        writer.write(record)
    return writer.close()


class PackageReader:
    """Verifies a whole package (``verify``) before yielding its records (``records``)."""

    def __init__(self, fileobj: BinaryIO, keys: KeyLookup, *, kind: str, batch_id: str | int | None = None,
                 sender_unit: str | None = None, receiver_unit: str | None = None) -> None:
        self._in = fileobj
        self._start = fileobj.tell()
        if isinstance(keys, Mapping):
            self._lookup: Callable[[str, str], bytes | None] = lambda unit, key_id: keys.get((unit, key_id))
        else:
            self._lookup = keys
        self._expect = {"kind": kind, "batch_id": None if batch_id is None else str(batch_id),
                        "sender_unit": sender_unit, "receiver_unit": receiver_unit}
        self._manifest: Manifest | None = None

    def verify(self) -> Manifest:
        """Pass 1: check format, key, every frame, counts and digest, then the expectations."""
        if self._manifest is not None:
            return self._manifest
        header, key, frames_at, header_digest = self._open()
        trailer: dict[str, Any] | None = None
        count, frames, digest = 0, 0, hashlib.sha256()
        for plaintext, final in self._frames(header, key, header_digest, frames_at):
            frames += 1
            if final:
                trailer = self._trailer(plaintext)
            else:
                digest.update(plaintext)
                count += plaintext.count(b"\n")
        assert trailer is not None  # _frames ends only after the final frame
        if (trailer["record_count"], trailer["chunk_count"], trailer["records_sha256"]) != (
                count, frames, digest.hexdigest()):
            raise PackageTamperedError()
        self._check_expectations(header)
        self._manifest = manifest_of(header, trailer)
        return self._manifest

    def records(self) -> Iterator[dict[str, Any]]:
        """Pass 2: yield the records; raises ``package_tampered`` if the file changed since ``verify``."""
        manifest = self.verify()
        header, key, frames_at, header_digest = self._open()
        digest, count = hashlib.sha256(), 0
        for plaintext, final in self._frames(header, key, header_digest, frames_at):
            if final:
                break
            digest.update(plaintext)
            for line in plaintext.split(b"\n")[:-1]:  # every record line ends with LF; JSON escapes LF
                count += 1
                yield json.loads(line)
        if count != manifest.record_count or digest.hexdigest() != manifest.records_sha256:
            raise PackageTamperedError()

    def _open(self) -> tuple[dict[str, Any], bytes, int, bytes]:
        self._in.seek(self._start)
        header, header_digest = parse_header(self._in)
        if header["algorithm"] not in ALGORITHMS:
            raise PackageUnsupportedVersionError(f"本机加密库不支持 {header['algorithm']}，无法读取该数据包")
        secret = self._lookup(str(header["key_unit"]), str(header["key_id"]))
        if not secret:
            raise PackageForeignError(key_unit=header["key_unit"], key_id=header["key_id"])
        try:
            salt = base64.b64decode(header["salt"], validate=True)
        except (ValueError, TypeError):
            raise PackageTamperedError() from None
        if not hmac.compare_digest(key_check(secret, salt, header).encode(), header["key_check"].encode()):
            raise PackageForeignError()
        key = derive_key(secret, salt, "encrypt", KEY_BYTES[header["algorithm"]], header)
        return header, key, self._in.tell(), header_digest

    def _frames(self, header: Mapping[str, Any], key: bytes, header_digest: bytes,
                position: int) -> Iterator[tuple[bytes, bool]]:
        self._in.seek(position)
        index = 0
        while True:
            start = self._in.read(FRAME.size)
            if len(start) < FRAME.size:
                raise PackageTruncatedError()
            flags, length = FRAME.unpack(start)
            if flags not in (0, FINAL) or not TAG_BYTES <= length <= MAX_FRAME_BYTES:
                raise PackageTamperedError()
            nonce = read_exact(self._in, NONCE_BYTES)
            body = read_exact(self._in, length)
            final = flags == FINAL
            dec = frame_cipher(header["algorithm"], key, nonce, body[-TAG_BYTES:]).decryptor()
            dec.authenticate_additional_data(frame_aad(header_digest, index, final))
            try:
                plaintext = dec.update(body[:-TAG_BYTES]) + dec.finalize()
            except InvalidTag:
                raise PackageTamperedError() from None
            yield plaintext, final
            index += 1
            if final:
                if self._in.read(1):
                    raise PackageTamperedError()
                return

    @staticmethod
    def _trailer(plaintext: bytes) -> dict[str, Any]:
        try:
            trailer = json.loads(plaintext)
            if not isinstance(trailer, dict) or not all(isinstance(trailer[k], t) for k, t in (
                    ("record_count", int), ("chunk_count", int), ("records_sha256", str))):
                raise ValueError
            return trailer
        except (ValueError, KeyError):
            raise PackageTamperedError() from None

    def _check_expectations(self, header: Mapping[str, Any]) -> None:
        expect = self._expect
        for unit in ("sender_unit", "receiver_unit"):
            if expect[unit] is not None and header[unit] != expect[unit]:
                raise PackageForeignError(**{unit: header[unit]})
        if header["key_unit"] not in (header["sender_unit"], header["receiver_unit"]):
            raise PackageForeignError()
        if header["kind"] != expect["kind"]:
            raise PackageWrongKindError(kind=header["kind"])
        if expect["batch_id"] is not None and header["batch_id"] != expect["batch_id"]:
            raise PackageWrongBatchError(batch_id=header["batch_id"])
