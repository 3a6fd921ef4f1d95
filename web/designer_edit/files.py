"""The files a designer checks and deploys: upload validation, the hidden-field round trip, the checked hashes.

What was checked is what gets deployed: the check page carries the exact bytes (base64, so the browser's
form encoding cannot touch line endings) and the session remembers the content hash of every bundle
that passed the check; a deploy whose content hashes differently is refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass

from flask import session
from lxml import etree

from engine.services.deploy import content_hash
from forms.text import FIELD_MESSAGE as CONTROL_MESSAGE
from forms.text import has_control

EXTENSIONS = (".bpmn", ".dmn")
#: one diagram; the shipped ones are under 50 KB
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 20
MAX_NAME_CHARS = 100
MAX_REASON_CHARS = 500
#: session key: content hashes of the last bundles that passed the check
CHECKED_KEY = "designer_edit_checked"
_REMEMBERED = 8


@dataclass(frozen=True)
class FileProblem:
    """Why one uploaded file cannot be checked (shown next to its name)."""

    filename: str
    message: str


def name_problem(name: str) -> str | None:
    """A Chinese message when ``name`` is not a plain ``*.bpmn``/``*.dmn`` file name, else None."""
    if not name:
        return "文件没有名称"
    if len(name) > MAX_NAME_CHARS:
        return f"文件名过长（不超过 {MAX_NAME_CHARS} 个字符）"
    if "/" in name or "\\" in name or name.startswith(".") or any(ord(ch) < 32 for ch in name):
        return "文件名不能包含路径或控制字符"
    if not name.lower().endswith(EXTENSIONS):
        return "只能上传 .bpmn 或 .dmn 文件"
    return None


def content_problem(content: bytes) -> str | None:
    """A Chinese message when ``content`` is empty, too big, not UTF-8 or not well-formed XML, else None."""
    if not content.strip():
        return "文件是空的"
    if len(content) > MAX_FILE_BYTES:
        return f"文件过大（每个文件不超过 {MAX_FILE_BYTES // (1024 * 1024)} MB）"
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return "文件不是 UTF-8 编码的文本，请用 UTF-8 保存后重新上传"
    try:
        etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return f"文件不是格式正确的 XML（第 {exc.lineno} 行：{exc.msg}）"
    return None


def validate(files: Iterable[tuple[str, bytes]]) -> tuple[dict[str, bytes], list[FileProblem]]:
    """Keep the good files and say what is wrong with each bad one (names kept, so nothing is lost)."""
    good: dict[str, bytes] = {}
    problems: list[FileProblem] = []
    for name, content in files:
        message = name_problem(name) or (f"文件名重复：{name}" if name in good else None) or content_problem(content)
        if message:
            problems.append(FileProblem(name or "（无名称）", message))
        else:
            good[name] = content
    if not good and not problems:
        problems.append(FileProblem("", "请选择至少一个 .bpmn 或 .dmn 文件"))
    if len(good) + len(problems) > MAX_FILES:
        problems.append(FileProblem("", f"一次最多上传 {MAX_FILES} 个文件"))
    return good, problems


def field_messages(problems: Iterable[FileProblem]) -> dict[str, str]:
    """Per-field messages of a 422 answer: ``files.<name>`` (or ``files`` for the whole set)."""
    return {(f"files.{p.filename}" if p.filename else "files"): p.message for p in problems}


def encode(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def decode(names: list[str], blobs: list[str]) -> tuple[dict[str, bytes], list[FileProblem]]:
    """The files a check page carried back (hidden fields) — validated again like an upload."""
    if len(names) != len(blobs):
        return {}, [FileProblem("", "检查结果不完整，请重新上传并检查")]
    pairs = []
    for name, blob in zip(names, blobs, strict=True):
        try:
            pairs.append((name, base64.b64decode(blob.encode("ascii"), validate=True)))
        except (binascii.Error, UnicodeEncodeError):
            return {}, [FileProblem(name, "检查结果中的文件内容已损坏，请重新上传并检查")]
    return validate(pairs)


def remember_checked(files: Mapping[str, bytes]) -> str:
    """Note that ``files`` passed the check in this session; returns their content hash."""
    digest = content_hash(files)
    held = [h for h in session.get(CHECKED_KEY, []) if isinstance(h, str) and h != digest]
    session[CHECKED_KEY] = (held + [digest])[-_REMEMBERED:]
    return digest


def was_checked(files: Mapping[str, bytes], checked_hash: str) -> bool:
    """Whether ``files`` are exactly the bundle this session checked under ``checked_hash``."""
    return content_hash(files) == checked_hash and checked_hash in session.get(CHECKED_KEY, [])


def reason_problem(reason: str) -> str | None:
    if not reason.strip():
        return "请填写部署说明（为什么部署这个版本）"
    if len(reason) > MAX_REASON_CHARS:
        return f"部署说明不能超过 {MAX_REASON_CHARS} 个字"
    if has_control(reason):
        return f"部署说明{CONTROL_MESSAGE}"
    return None
