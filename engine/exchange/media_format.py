"""The media package format (DX-1, DX-2): constants, errors, manifest, key derivation, framing, header parsing.

What a writer and a reader must agree on, byte for byte (``docs/exchange-protocol.md``); the
streaming :class:`~engine.exchange.media.PackageWriter` and :class:`~engine.exchange.media.PackageReader`
and the public API contract live in :mod:`engine.exchange.media`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers import modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import ValidationError

MAGIC = b"HEDUIPKG"
FORMAT_VERSION = 1
KINDS = ("request", "result")
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_HEADER_BYTES = 64 * 1024
MAX_FRAME_BYTES = 16 * 1024 * 1024
PREAMBLE = struct.Struct(">8sHI")
FRAME = struct.Struct(">BI")
FINAL = 1


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
KEY_BYTES = {"SM4-GCM": 16, "AES-256-GCM": 32}


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
MANIFEST_HEADER_FIELDS = ("format_version", "package_id", "kind", "batch_id", "sender_unit", "receiver_unit",
                           "created_at", "algorithm", "key_unit", "key_id", "extra")


def derive_key(secret: bytes, salt: bytes, purpose: str, length: int, header: Mapping[str, Any]) -> bytes:
    info = "|".join(["hedui-media-1", purpose, header["algorithm"], header["key_unit"], header["key_id"]])
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info.encode()).derive(secret)


def key_check(secret: bytes, salt: bytes, header: Mapping[str, Any]) -> str:
    check_key = derive_key(secret, salt, "key-check", 32, header)
    return hmac.new(check_key, b"hedui key check", hashlib.sha256).hexdigest()[:32]


def frame_cipher(algorithm: str, key: bytes, nonce: bytes, tag: bytes | None = None) -> Cipher[modes.GCM]:
    algo = algorithms.SM4(key) if algorithm == "SM4-GCM" else algorithms.AES(key)
    return Cipher(algo, modes.GCM(nonce, tag))


def frame_aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return b"HEDUI-PKG-1" + header_digest + struct.pack(">QB", index, FINAL if final else 0)



def manifest_of(header: Mapping[str, Any], trailer: Mapping[str, Any] | None = None) -> Manifest:
    values = {name: header[name] for name in MANIFEST_HEADER_FIELDS}
    if trailer:
        values.update(record_count=trailer["record_count"], chunk_count=trailer["chunk_count"],
                      records_sha256=trailer["records_sha256"])
    return Manifest(**values)


def read_exact(fileobj: BinaryIO, n: int) -> bytes:
    data = fileobj.read(n)
    if len(data) != n:
        raise PackageTruncatedError()
    return data


def parse_header(fileobj: BinaryIO) -> tuple[dict[str, Any], bytes]:
    start = fileobj.read(PREAMBLE.size)
    if len(start) < PREAMBLE.size or not start.startswith(MAGIC):
        raise PackageTamperedError("文件不是数据交换包或已损坏，已拒绝导入")
    _, version, length = PREAMBLE.unpack(start)
    if version != FORMAT_VERSION:
        raise PackageUnsupportedVersionError(version=version)
    if length > MAX_HEADER_BYTES:
        raise PackageTamperedError()
    raw = read_exact(fileobj, length)
    try:
        header = json.loads(raw)
        missing = [k for k in (*MANIFEST_HEADER_FIELDS, "salt", "key_check") if k not in header]
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
        return manifest_of(parse_header(fileobj)[0])
    finally:
        fileobj.seek(position)
