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
The byte layout is specified in ``docs/exchange-protocol.md``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone
from typing import Any
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers import modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import ValidationError
from engine.exchange.signing import canonical_json

MAGIC = b"HEDUIPKG"
FORMAT_VERSION = 1
KINDS = ("request", "result")
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_HEADER_BYTES = 64 * 1024
MAX_FRAME_BYTES = 16 * 1024 * 1024
_PREAMBLE = struct.Struct(">8sHI")
_FRAME = struct.Struct(">BI")
_FINAL = 1


def _sm4_gcm_supported() -> bool:
    try:
        enc = Cipher(algorithms.SM4(b"\0" * 16), modes.GCM(b"\0" * NONCE_BYTES)).encryptor()
        enc.update(b"probe")
        enc.finalize()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not in this build"
        return False


SM4_GCM_AVAILABLE = _sm4_gcm_supported()
ALGORITHMS = ("SM4-GCM", "AES-256-GCM") if SM4_GCM_AVAILABLE else ("AES-256-GCM",)
DEFAULT_ALGORITHM = ALGORITHMS[0]
_KEY_BYTES = {"SM4-GCM": 16, "AES-256-GCM": 32}


class PackageError(ValidationError):
    """An exchange package was refused; nothing from it may be applied."""

    code = "package_invalid"
    message = "数据交换包无效，已拒绝导入"


class PackageTamperedError(PackageError):
    code = "package_tampered"
    message = "数据交换包校验失败（内容被篡改或已损坏），已拒绝导入，未应用任何数据"


class PackageForeignError(PackageError):
    code = "package_foreign"
    message = "数据交换包不属于本单位之间的交换（单位或密钥不符），已拒绝导入"


class PackageWrongBatchError(PackageError):
    code = "package_wrong_batch"
    message = "数据交换包不属于该交换批次，已拒绝导入"


class PackageWrongKindError(PackageError):
    code = "package_wrong_kind"
    message = "数据交换包类型不符（请求包与结果包不可混用），已拒绝导入"


class PackageUnsupportedVersionError(PackageError):
    code = "package_unsupported_version"
    message = "数据交换包的格式版本或加密算法不受支持"


class PackageTruncatedError(PackageError):
    code = "package_truncated"
    message = "数据交换包不完整（可能拷贝中断），请重新拷贝后导入"


@dataclass(frozen=True)
class MediaKey:
    """The sharing unit's 32-byte secret for media packages, by key id (rotation)."""

    unit_code: str
    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never show the secret
        return f"MediaKey({self.unit_code!r}, {self.key_id!r})"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    package_id: str
    kind: str
    batch_id: str
    sender_unit: str
    receiver_unit: str
    created_at: str
    algorithm: str
    key_unit: str
    key_id: str
    extra: dict[str, Any] = field(default_factory=dict)
    record_count: int | None = None
    chunk_count: int | None = None
    records_sha256: str | None = None


KeyLookup = Callable[[str, str], bytes | None] | Mapping[tuple[str, str], bytes]
_MANIFEST_HEADER_FIELDS = ("format_version", "package_id", "kind", "batch_id", "sender_unit", "receiver_unit",
                           "created_at", "algorithm", "key_unit", "key_id", "extra")


def _derive(secret: bytes, salt: bytes, purpose: str, length: int, header: Mapping[str, Any]) -> bytes:
    info = "|".join(["hedui-media-1", purpose, header["algorithm"], header["key_unit"], header["key_id"]])
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info.encode()).derive(secret)


def _key_check(secret: bytes, salt: bytes, header: Mapping[str, Any]) -> str:
    check_key = _derive(secret, salt, "key-check", 32, header)
    return hmac.new(check_key, b"hedui key check", hashlib.sha256).hexdigest()[:32]


def _cipher(algorithm: str, key: bytes, nonce: bytes, tag: bytes | None = None) -> Cipher:
    algo = algorithms.SM4(key) if algorithm == "SM4-GCM" else algorithms.AES(key)
    return Cipher(algo, modes.GCM(nonce, tag))


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return b"HEDUI-PKG-1" + header_digest + struct.pack(">QB", index, _FINAL if final else 0)


class PackageWriter:
    """Streams records into an encrypted package; ``close()`` writes the trailer."""

    def __init__(self, fileobj: BinaryIO, *, key: MediaKey, kind: str, batch_id: str | int, sender_unit: str,
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
            "created_at": created_at.astimezone(timezone.utc).isoformat(), "algorithm": algorithm,
            "key_unit": key.unit_code, "key_id": key.key_id, "extra": dict(extra or {}),
            "salt": base64.b64encode(salt).decode(),
        }
        header["key_check"] = _key_check(key.secret, salt, header)
        self._header = header
        self._key = _derive(key.secret, salt, "encrypt", _KEY_BYTES[algorithm], header)
        header_bytes = canonical_json(header)
        preamble = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_bytes))
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
        enc = _cipher(self._header["algorithm"], self._key, nonce).encryptor()
        enc.authenticate_additional_data(_aad(self._header_digest, self._index, final))
        ciphertext = enc.update(plaintext) + enc.finalize() + enc.tag
        self._out.write(_FRAME.pack(_FINAL if final else 0, len(ciphertext)) + nonce + ciphertext)
        self._index += 1

    def close(self) -> Manifest:
        if self._manifest is None:
            self._flush()
            trailer = {"record_count": self._count, "chunk_count": self._index + 1,
                       "records_sha256": self._digest.hexdigest()}
            self._frame(canonical_json(trailer), final=True)
            self._manifest = _manifest(self._header, trailer)
        return self._manifest

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()


def write_package(fileobj: BinaryIO, records: Iterable[Mapping[str, Any]], **kwargs: Any) -> Manifest:
    """Write every record of ``records`` (consumed lazily) as one package; see :class:`PackageWriter`."""
    writer = PackageWriter(fileobj, **kwargs)
    for record in records:
        writer.write(record)
    return writer.close()


def _manifest(header: Mapping[str, Any], trailer: Mapping[str, Any] | None = None) -> Manifest:
    values = {name: header[name] for name in _MANIFEST_HEADER_FIELDS}
    if trailer:
        values.update(record_count=trailer["record_count"], chunk_count=trailer["chunk_count"],
                      records_sha256=trailer["records_sha256"])
    return Manifest(**values)


def _read_exact(fileobj: BinaryIO, n: int) -> bytes:
    data = fileobj.read(n)
    if len(data) != n:
        raise PackageTruncatedError()
    return data


def _parse_header(fileobj: BinaryIO) -> tuple[dict[str, Any], bytes]:
    start = fileobj.read(_PREAMBLE.size)
    if len(start) < _PREAMBLE.size or not start.startswith(MAGIC):
        raise PackageTamperedError("文件不是数据交换包或已损坏，已拒绝导入")
    _, version, length = _PREAMBLE.unpack(start)
    if version != FORMAT_VERSION:
        raise PackageUnsupportedVersionError(version=version)
    if length > MAX_HEADER_BYTES:
        raise PackageTamperedError()
    raw = _read_exact(fileobj, length)
    try:
        header = json.loads(raw)
        missing = [k for k in (*_MANIFEST_HEADER_FIELDS, "salt", "key_check") if k not in header]
    except (ValueError, TypeError):
        raise PackageTamperedError() from None
    if not isinstance(header, dict) or missing or header["format_version"] != FORMAT_VERSION:
        raise PackageTamperedError()
    texts = ("package_id", "kind", "batch_id", "sender_unit", "receiver_unit", "created_at", "algorithm", "key_unit",
             "key_id", "salt", "key_check")
    if not all(isinstance(header[k], str) for k in texts) or not isinstance(header["extra"], dict):
        raise PackageTamperedError()
    return header, hashlib.sha256(start + raw).digest()


def read_header(fileobj: BinaryIO) -> Manifest:
    """The header fields, NOT authenticated (display only); the position is restored."""
    position = fileobj.tell()
    try:
        return _manifest(_parse_header(fileobj)[0])
    finally:
        fileobj.seek(position)


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
        self._manifest = _manifest(header, trailer)
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
        header, header_digest = _parse_header(self._in)
        if header["algorithm"] not in ALGORITHMS:
            raise PackageUnsupportedVersionError(f"本机加密库不支持 {header['algorithm']}，无法读取该数据包")
        secret = self._lookup(str(header["key_unit"]), str(header["key_id"]))
        if not secret:
            raise PackageForeignError(key_unit=header["key_unit"], key_id=header["key_id"])
        try:
            salt = base64.b64decode(header["salt"], validate=True)
        except (ValueError, TypeError):
            raise PackageTamperedError() from None
        if not hmac.compare_digest(_key_check(secret, salt, header).encode(), header["key_check"].encode()):
            raise PackageForeignError()
        key = _derive(secret, salt, "encrypt", _KEY_BYTES[header["algorithm"]], header)
        return header, key, self._in.tell(), header_digest

    def _frames(self, header: Mapping[str, Any], key: bytes, header_digest: bytes,
                position: int) -> Iterator[tuple[bytes, bool]]:
        self._in.seek(position)
        index = 0
        while True:
            start = self._in.read(_FRAME.size)
            if len(start) < _FRAME.size:
                raise PackageTruncatedError()
            flags, length = _FRAME.unpack(start)
            if flags not in (0, _FINAL) or not TAG_BYTES <= length <= MAX_FRAME_BYTES:
                raise PackageTamperedError()
            nonce = _read_exact(self._in, NONCE_BYTES)
            body = _read_exact(self._in, length)
            final = flags == _FINAL
            dec = _cipher(header["algorithm"], key, nonce, body[-TAG_BYTES:]).decryptor()
            dec.authenticate_additional_data(_aad(header_digest, index, final))
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
