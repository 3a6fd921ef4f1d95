"""Signed backup bundles (AR-3, LOC-31): export archives sealed since a date, import them elsewhere.

A bundle is a zip: ``bundle.json`` (each archive's row, its manifest verbatim and the path of every
item), ``items/<n>/<position>`` (the bytes), and ``bundle.sig`` = HMAC-SHA256 of ``bundle.json``
under the deployment's archive key. HMAC rather than Ed25519: the county and city platforms are
run by the same civil-affairs hierarchy and share a configured key, and it needs no extra
dependency; the manifest digests make every item covered by the signature.

Import checks the signature, every manifest digest and every item's SHA-256, and refuses a
conflicting archive, all before writing anything; an archive already present with the same
digest is skipped, so importing the same bundle twice changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.archives.seal import add_items
from engine.archives.seal import sha256
from engine.calendar import SHANGHAI
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import IntegrityError
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models.archive import Archive
from engine.models.archive import ArchiveItem
from engine.models.archive import ArchiveItemBlob

BUNDLE_FORMAT = "hedui-archive-bundle/1"


def signature(key: bytes, index: bytes) -> str:
    return "hmac-sha256:" + hmac.new(key, index, hashlib.sha256).hexdigest()


def export_bundle(ctx: EngineContext, *, since: date, key: bytes, actor: Actor) -> tuple[bytes, int]:
    """The bundle of every archive sealed on or after ``since`` (Beijing time); returns (bytes, archive count)."""
    start = datetime(since.year, since.month, since.day, tzinfo=SHANGHAI)
    archives = ctx.session.execute(select(Archive).where(Archive.sealed_at >= start)
                                   .order_by(Archive.sealed_at, Archive.id)).scalars().all()
    out = io.BytesIO()
    entries: list[dict[str, Any]] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, archive in enumerate(archives, start=1):
            items = []
            for item in ctx.session.execute(select(ArchiveItem).where(ArchiveItem.archive_id == archive.id)
                                            .order_by(ArchiveItem.position)).scalars():
                content = ctx.session.execute(select(ArchiveItemBlob.content)
                                              .where(ArchiveItemBlob.item_id == item.id)).scalar_one()
                path = f"items/{n}/{item.position}"
                zf.writestr(path, bytes(content))
                items.append({"position": item.position, "path": path, "sha256": item.sha256})
            entries.append({"case_no": archive.case_no, "agency_code": archive.agency_code,
                            "agency_name": archive.agency_name, "region_code": archive.region_code,
                            "sealed_at": archive.sealed_at.isoformat(), "sealed_by": archive.sealed_by,
                            "manifest": archive.manifest, "manifest_sha256": archive.manifest_sha256,
                            "items": items})
        index = json.dumps({"format": BUNDLE_FORMAT, "created_at": ctx.now().isoformat(), "created_by": actor.username,
                            "since": since.isoformat(), "archives": entries},
                           ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
        zf.writestr("bundle.json", index)
        zf.writestr("bundle.sig", signature(key, index))
    append_event(ctx, stream=SYSTEM_STREAM, kind="archive_exported", actor=actor,
                 payload={"since": since.isoformat(), "archives": len(entries), "bundle_sha256": sha256(index),
                          "case_nos": [e["case_no"] for e in entries]})
    return out.getvalue(), len(entries)


@dataclass
class ImportResult:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def import_bundle(ctx: EngineContext, data: bytes, *, key: bytes, actor: Actor) -> ImportResult:
    """Verify the whole bundle, then write the archives that are new here (idempotent)."""
    index, entries, contents = _read_verified(data, key)
    result = ImportResult()
    existing = dict(ctx.session.execute(select(Archive.case_no, Archive.manifest_sha256).where(
        Archive.case_no.in_([e["case_no"] for e in entries]))).all())
    conflicts = [e["case_no"] for e in entries if e["case_no"] in existing
                 and existing[e["case_no"]] != e["manifest_sha256"]]
    if conflicts:
        raise IntegrityError("备份包中的档案与本系统已有档案不一致，未导入任何内容", code="bundle_conflict",
                             case_nos=conflicts)
    now = ctx.now()
    for entry in entries:
        if entry["case_no"] in existing:
            result.skipped.append(entry["case_no"])
            continue
        archive = Archive(case_no=entry["case_no"], household_id=None, agency_code=entry["agency_code"],
                          agency_name=entry["agency_name"], region_code=entry["region_code"],
                          sealed_at=datetime.fromisoformat(entry["sealed_at"]), sealed_by=entry["sealed_by"],
                          manifest=entry["manifest"], manifest_sha256=entry["manifest_sha256"], origin="imported",
                          imported_at=now)
        ctx.session.add(archive)
        ctx.session.flush()
        manifest_items = sorted(json.loads(entry["manifest"])["items"], key=lambda i: int(i["position"]))
        add_items(ctx, archive, manifest_items, [contents[(entry["case_no"], int(i["position"]))]
                                                 for i in manifest_items])
        result.imported.append(entry["case_no"])
    append_event(ctx, stream=SYSTEM_STREAM, kind="archive_imported", actor=actor,
                 payload={"bundle_sha256": sha256(index), "imported": result.imported, "skipped": result.skipped})
    return result


def _read_verified(data: bytes, key: bytes) -> tuple[bytes, list[dict[str, Any]], dict[tuple[str, int], bytes]]:
    """Signature, format, manifest digests and item digests; raises before anything is written."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        index, sig = zf.read("bundle.json"), zf.read("bundle.sig").decode("ascii").strip()
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise ValidationError("不是有效的档案备份包", code="bundle_invalid") from exc
    if not hmac.compare_digest(sig, signature(key, index)):
        raise IntegrityError("备份包签名无效（密钥不符或内容被修改），未导入任何内容", code="bundle_signature")
    body = json.loads(index)
    if body.get("format") != BUNDLE_FORMAT:
        raise ValidationError("备份包格式不受支持", code="bundle_invalid", format=body.get("format"))
    problems: list[str] = []
    contents: dict[tuple[str, int], bytes] = {}
    for entry in body["archives"]:
        case_no = entry["case_no"]
        if sha256(entry["manifest"].encode("utf-8")) != entry["manifest_sha256"]:
            problems.append(f"{case_no}：档案清单与其摘要不符")
            continue
        manifest = json.loads(entry["manifest"])
        paths = {int(i["position"]): i["path"] for i in entry["items"]}
        if manifest.get("case_no") != case_no:
            problems.append(f"{case_no}：清单中的业务编号不符")
        for item in manifest["items"]:
            position = int(item["position"])
            try:
                content = zf.read(paths[position])
            except KeyError:
                problems.append(f"{case_no} 第 {position} 项：备份包中缺少该项目")
                continue
            if sha256(content) != item["sha256"] or len(content) != item["size"]:
                problems.append(f"{case_no} 第 {position} 项「{item['title']}」：内容与 SHA-256 不符")
            contents[(case_no, position)] = content
    if problems:
        raise IntegrityError("备份包校验未通过，未导入任何内容", code="bundle_digest", problems=problems)
    return index, body["archives"], contents
