"""Read and check an electronic data package (电子数据包, DO-6); the format is in docs/data-package.md.

Reading never touches the database: :func:`read_package` returns every household with
its problems (file, row, field, Chinese message) and the problems of the package itself.
``engine.services.package_import.import_package`` decides what is imported. Scans are checked by
content: PDF, JPEG or PNG, at most :data:`MAX_DOCUMENT_BYTES`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from functools import cached_property
from typing import Any

from forms import FormError
from forms.household import validate_household

FORMAT = "hedui-household-package"
VERSION = 1
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_TABLE_BYTES = 20 * 1024 * 1024
MAX_PACKAGE_BYTES = 500 * 1024 * 1024
MAX_ENTRIES = 5000
MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
DOCUMENT_KINDS = ("authorisation", "id_card", "hukou", "entrustment", "evidence", "other")

TABLES = ("households.csv", "persons.csv", "documents.csv")
#: column -> required; the first column of each table is the package-local household reference
COLUMNS: dict[str, dict[str, bool]] = {
    "households.csv": {"household": True, "business_type": True, "business_other": False, "rule_set": False,
                       "region_code": True, "address": True, "applicant_phone": False,
                       "authorised_business_types": True, "authorised_business_other": False, "signed_on": True,
                       "valid_until": False, "handler_name": False, "statement_copied": True, "note": False},
    "persons.csv": {"household": True, "role": True, "name": True, "id_number": True, "relation": True, "rule": False,
                    "included": False, "duty": False, "evidence": False, "residence_address": True,
                    "hukou_location": True, "signature": True, "signed_by": False, "member_informed": False,
                    "signature_note": False},
    "documents.csv": {"household": True, "kind": True, "file": True, "id_number": False},
}
#: households.csv column of each authorisation field (the form nests them)
AUTHORISATION_COLUMNS = {"business_types": "authorised_business_types", "business_other": "authorised_business_other",
                         "signed_on": "signed_on", "valid_until": "valid_until", "handler_name": "handler_name",
                         "statement_copied": "statement_copied"}
ROLES = {"member": "members", "成员": "members", "obligor": "obligors", "义务人": "obligors"}
_TRUE, _FALSE = {"是", "true", "1", "yes", "y"}, {"否", "false", "0", "no", "n"}


def sniff_content_type(content: bytes) -> str | None:
    """The MIME type from the first bytes: PDF, JPEG or PNG; None for anything else."""
    return next((mime for magic, mime in MAGIC if content.startswith(magic)), None)


@dataclass(frozen=True)
class DocumentIn:
    """A scan to attach: its kind, the client's file name (kept for display only) and the bytes."""

    kind: str
    filename: str
    content: bytes = field(repr=False)
    #: whose scan (an ID card): that person's ID number in the household
    person_id_number: str | None = field(default=None, repr=False)

    @cached_property
    def content_type(self) -> str | None:
        return sniff_content_type(self.content)

    @property
    def safe_filename(self) -> str:
        name = posixpath.basename(self.filename.replace("\\", "/")).strip() or "scan"
        return name[-255:]


def check_document(doc: DocumentIn) -> list[tuple[str, str]]:
    """Problems of one scan as (field, Chinese message) pairs; empty when acceptable."""
    problems = []
    if doc.kind not in DOCUMENT_KINDS:
        problems.append(("kind", "未知的材料类别"))
    if not doc.content:
        problems.append(("file", "文件为空"))
    elif len(doc.content) > MAX_DOCUMENT_BYTES:
        problems.append(("file", f"文件超过 {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB"))
    elif doc.content_type is None:
        problems.append(("file", "仅接受 PDF、JPEG、PNG 格式的扫描件（按文件内容识别）"))
    return problems


@dataclass(frozen=True)
class Problem:
    """One problem: where (file, row counting the header as 1, column) and what, in Chinese."""

    file: str
    row: int | None
    field: str | None
    message: str
    household: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "field": self.field, "message": self.message,
                "household": self.household}


@dataclass
class PackageHousehold:
    """One households.csv row with its persons and scans, as form input, and where each came from."""

    ref: str
    row: int
    data: dict[str, Any]
    documents: list[Any] = field(default_factory=list)
    #: ("members" | "obligors", index) -> persons.csv row
    person_rows: dict[tuple[str, int], int] = field(default_factory=dict)
    #: documents.csv row of each entry of ``documents``
    document_rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, file: str, row: int | None, column: str | None, message: str) -> Problem:
        return Problem(file, row, column, message, self.ref)

    def map_errors(self, fields: Mapping[Any, Any]) -> list[Problem]:
        """Form-shaped errors (as ``FormError.fields``) -> problems at the rows they came from."""
        out = []
        for key, value in fields.items():
            if key in ("members", "obligors") and isinstance(value, Mapping):
                for index, sub in value.items():
                    row = self.person_rows.get((key, int(index))) if str(index).isdigit() else None
                    out += self._flat("persons.csv", row, sub)
            elif key == "authorisation" and isinstance(value, Mapping):
                for sub_key, messages in value.items():
                    out += self._flat("households.csv", self.row, messages, AUTHORISATION_COLUMNS.get(sub_key))
            elif key == "documents" and isinstance(value, Mapping):
                for index, sub in value.items():
                    if str(index).isdigit() and int(index) < len(self.document_rows):
                        out += self._flat("documents.csv", self.document_rows[int(index)], sub)
                    else:
                        out += self._flat("households.csv", self.row, sub)
            else:
                out += self._flat("households.csv", self.row, value, None if key == "_schema" else str(key))
        return out

    def _flat(self, file: str, row: int | None, value: Any, column: str | None = None) -> list[Problem]:
        if isinstance(value, Mapping):
            return [p for key, sub in value.items()
                    for p in self._flat(file, row, sub, None if key == "_schema" else str(key))]
        messages = value if isinstance(value, list) else [value]
        return [self.problem(file, row, column, str(m)) for m in messages]


@dataclass
class ParsedPackage:
    sha256: str
    manifest: dict[str, Any] = field(default_factory=dict)
    households: list[PackageHousehold] = field(default_factory=list)
    entrustment_documents: list[Any] = field(default_factory=list)
    #: problems of the package itself: they refuse the whole package
    problems: list[Problem] = field(default_factory=list)

    def problems_for(self, household: PackageHousehold, fields: Mapping[str, Any]) -> list[Problem]:
        return household.map_errors(fields)

    def problems_from_entrustment(self, fields: Mapping[str, Any],
                                  households: list[PackageHousehold]) -> list[Problem]:
        """Errors of ``create_entrustment`` -> problems in the package."""
        out = []
        for key, value in fields.items():
            if key == "households" and isinstance(value, Mapping):
                for index, sub in value.items():
                    out += households[int(index)].map_errors(sub)
            else:
                out += PackageHousehold("", 0, {})._flat("manifest.json", None, value, f"entrustment.{key}")
        return [Problem(p.file, p.row, p.field, p.message, p.household or None) for p in out]


def read_package(zip_bytes: bytes, *, today: date) -> ParsedPackage:
    """Open, check and convert a package; never raises for bad content, reports it instead."""
    package = ParsedPackage(sha256=hashlib.sha256(zip_bytes).hexdigest())
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except (zipfile.BadZipFile, ValueError):
        package.problems.append(Problem("（数据包）", None, None, "不是有效的 zip 文件"))
        return package
    with archive:
        reader = _Reader(archive, package, today)
        reader.run()
    return package


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, package: ParsedPackage, today: date) -> None:
        self.archive, self.package, self.today = archive, package, today
        self.entries: dict[str, zipfile.ZipInfo] = {}
        self.digests: dict[str, str] = {}

    def fatal(self, file: str, message: str, row: int | None = None, column: str | None = None) -> None:
        self.package.problems.append(Problem(file, row, column, message))

    def run(self) -> None:
        if not self.list_entries() or not self.read_manifest():
            return
        tables = {name: self.read_table(name) for name in TABLES}
        if self.package.problems or any(t is None for t in tables.values()):
            return
        self.build(tables["households.csv"] or [], tables["persons.csv"] or [], tables["documents.csv"] or [])
        self.check_counts(tables)
        for household in self.package.households:
            try:
                validate_household(household.data, today=self.today)
            except FormError as exc:
                household.problems += household.map_errors(exc.fields)

    def list_entries(self) -> bool:
        infos = [i for i in self.archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_PACKAGE_BYTES:
            self.fatal("（数据包）", "数据包过大")
            return False
        for info in infos:
            name = info.filename
            if name.startswith("/") or "\\" in name or ".." in name.split("/") or info.flag_bits & 0x1:
                self.fatal(name, "不允许的文件路径或加密文件")
            self.entries[name] = info
        return not self.package.problems

    def read(self, name: str, limit: int) -> bytes | None:
        info = self.entries.get(name)
        if info is None or info.file_size > limit:
            return None
        with self.archive.open(info) as handle:
            return handle.read(limit + 1)

    def read_manifest(self) -> bool:
        raw = self.read("manifest.json", MAX_TABLE_BYTES)
        try:
            manifest = json.loads(raw.decode("utf-8")) if raw is not None else None
        except (UnicodeDecodeError, ValueError):
            manifest = None
        if not isinstance(manifest, dict):
            self.fatal("manifest.json", "缺少清单文件 manifest.json 或其不是有效的 JSON 对象")
            return False
        self.package.manifest = manifest
        _check_manifest(manifest, self.today, self.fatal)
        files = manifest.get("files")
        if isinstance(files, dict):
            self.check_files(files)
        return not self.package.problems

    def check_files(self, files: dict[str, Any]) -> None:
        for name in sorted(set(self.entries) - set(files) - {"manifest.json"}):
            self.fatal(name, "文件未在清单 manifest.json 中登记")
        for name, digest in files.items():
            if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
                self.fatal("manifest.json", f"文件「{name}」的 sha256 摘要格式不正确", column="files")
            elif name not in self.entries:
                self.fatal(name, "清单中登记的文件在数据包中不存在")
            else:
                self.digests[name] = digest
        for name in TABLES:
            if name not in files:
                self.fatal(name, "缺少数据文件")

    def content(self, name: str, limit: int) -> tuple[bytes | None, str | None]:
        """The bytes of a listed file, or why not (missing, too large, digest differs)."""
        if name not in self.digests:
            return None, "数据包或清单中没有该文件"
        data = self.read(name, limit)
        if data is None or len(data) > limit:
            return None, f"文件超过 {limit // (1024 * 1024)} MB"
        if hashlib.sha256(data).hexdigest() != self.digests[name]:
            return None, "文件内容与清单中的 sha256 摘要不符（可能已被篡改或损坏）"
        return data, None

    def read_table(self, name: str) -> list[dict[str, str]] | None:
        data, problem = self.content(name, MAX_TABLE_BYTES)
        if problem:
            self.fatal(name, problem)
            return None
        try:
            text = (data or b"").decode("utf-8-sig")
        except UnicodeDecodeError:
            self.fatal(name, "文件不是 UTF-8 编码")
            return None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in reader.fieldnames or []]
        columns = COLUMNS[name]
        for column in header:
            if column not in columns:
                self.fatal(name, "未知的列", row=1, column=column)
        for column, required in columns.items():
            if required and column not in header:
                self.fatal(name, "缺少必需的列", row=1, column=column)
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
        return rows

    def build(self, households: list[dict[str, str]], persons: list[dict[str, str]],
              documents: list[dict[str, str]]) -> None:
        by_ref: dict[str, PackageHousehold] = {}
        for row, record in enumerate(households, start=2):
            ref = record.get("household", "")
            if not ref or ref in by_ref:
                self.fatal("households.csv", "家庭编号为空或重复", row=row, column="household")
                continue
            by_ref[ref] = PackageHousehold(ref, row, _household_input(record))
            self.package.households.append(by_ref[ref])
        for row, record in enumerate(persons, start=2):
            household = by_ref.get(record.get("household", ""))
            if household is None:
                self.fatal("persons.csv", "所属家庭编号在 households.csv 中不存在", row=row, column="household")
                continue
            self.add_person(household, row, record)
        used = set()
        for row, record in enumerate(documents, start=2):
            used.add(record.get("file", ""))
            self.add_document(by_ref, row, record)
        for name in sorted(set(self.digests) - set(TABLES) - used):
            self.fatal(name, "文件未在 documents.csv 中登记")

    def add_person(self, household: PackageHousehold, row: int, record: dict[str, str]) -> None:
        table = ROLES.get(record.get("role", "").lower())
        if table is None:
            household.problems.append(household.problem(
                "persons.csv", row, "role", "人员类别应为 member（家庭成员）或 obligor（义务人）"))
            return
        person = {k: _cell(k, v) for k, v in record.items() if k not in ("household", "role") and v != ""}
        household.person_rows[(table, len(household.data[table]))] = row
        household.data[table].append(person)

    def add_document(self, by_ref: dict[str, PackageHousehold], row: int, record: dict[str, str]) -> None:
        ref, kind, name = record.get("household", ""), record.get("kind", ""), record.get("file", "")
        household = by_ref.get(ref)
        if household is None and not (ref == "" and kind == "entrustment"):
            self.fatal("documents.csv", "所属家庭编号在 households.csv 中不存在", row=row, column="household")
            return
        data, problem = self.content(name, MAX_DOCUMENT_BYTES)
        if problem:
            if household is None:
                self.fatal("documents.csv", problem, row=row, column="file")
            else:
                household.problems.append(household.problem("documents.csv", row, "file", problem))
            return
        doc = DocumentIn(kind, name, data or b"", record.get("id_number") or None)
        if household is None:
            self.package.entrustment_documents.append(doc)
        else:
            household.documents.append(doc)
            household.document_rows.append(row)

    def check_counts(self, tables: dict[str, list[dict[str, str]] | None]) -> None:
        counts = self.package.manifest.get("counts") or {}
        for key, name in (("households", "households.csv"), ("persons", "persons.csv"),
                          ("documents", "documents.csv")):
            actual = len(tables[name] or [])
            if counts.get(key) != actual:
                self.fatal("manifest.json", f"清单所列{_COUNT_NAMES[key]}（{counts.get(key)}）与 {name} 的实际行数"
                                            f"（{actual}）不符", column=f"counts.{key}")


_COUNT_NAMES = {"households": "户数", "persons": "人数", "documents": "材料数"}


def _check_manifest(manifest: dict[str, Any], today: date, fatal: Any) -> None:
    if manifest.get("format") != FORMAT:
        fatal("manifest.json", f"不是核对电子数据包（format 应为 {FORMAT}）", column="format")
    if manifest.get("version") != VERSION:
        fatal("manifest.json", f"不支持的数据包版本（应为 {VERSION}）", column="version")
    if not isinstance(manifest.get("entrusting_unit"), str):
        fatal("manifest.json", "缺少委托单位代码", column="entrusting_unit")
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) for k in _COUNT_NAMES):
        fatal("manifest.json", "清单须列明户数、人数和材料数（整数）", column="counts")
    if not isinstance(manifest.get("files"), dict):
        fatal("manifest.json", "清单须列明每个文件的 sha256 摘要", column="files")
    letter = manifest.get("entrustment")
    if not isinstance(letter, dict):
        fatal("manifest.json", "清单须包含委托书信息", column="entrustment")
        return
    for key, label in (("contact_name", "经办人"), ("contact_phone", "联系电话")):
        if not isinstance(letter.get(key), str) or not letter[key].strip():
            fatal("manifest.json", f"请填写委托书{label}", column=f"entrustment.{key}")
    try:
        entrusted_on = date.fromisoformat(letter.get("entrusted_on") or "")
    except (TypeError, ValueError):
        fatal("manifest.json", "委托时间应为日期（YYYY-MM-DD）", column="entrustment.entrusted_on")
        return
    if entrusted_on > today:
        fatal("manifest.json", "委托时间不能晚于今天", column="entrustment.entrusted_on")


def _household_input(record: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in record.items()
                            if k in ("business_type", "business_other", "rule_set", "region_code", "address",
                                     "applicant_phone", "note") and v != ""}
    authorisation = {field_name: _cell(column, record[column]) for field_name, column in AUTHORISATION_COLUMNS.items()
                     if record.get(column, "") != ""}
    return {**data, "members": [], "obligors": [], "authorisation": authorisation}


def _cell(column: str, value: str) -> Any:
    """A CSV cell as form input: booleans 是/否, lists separated by ; (anything else stays text for the form)."""
    if column in ("included", "member_informed", "statement_copied"):
        lowered = value.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    if column == "authorised_business_types":
        return [part.strip() for part in re.split(r"[;；,，]", value) if part.strip()]
    return value
