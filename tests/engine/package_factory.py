"""Synthetic households and electronic data packages for tests (docs/data-package.md).

Every person is invented: names end in 测试, ID numbers are built here with valid check
characters for the 朝阳区 address code. Nothing resembles a real person.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import Any

from forms.ids import check_char

REGION = "220104001"  # 红旗街道 in the demo region
ADDRESS_CODE = "220104"
SIGNED_ON = date(2026, 11, 20)
#: the smallest valid files of each accepted type (the content is what counts, not the name)
PDF = b"%PDF-1.4\n% synthetic test scan\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
SURNAMES = "张王李赵刘陈杨黄周吴"


def make_id(birth: date, serial: int, *, male: bool, address: str = ADDRESS_CODE) -> str:
    """A synthetic 18-digit number with a valid check character (serial 0–49 keeps them distinct)."""
    sequence = serial * 2 + (1 if male else 0)
    first17 = f"{address}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)


def person(name: str, id_number: str | None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "id_number": id_number, "residence_address": "红旗街道幸福小区1栋101室",
            "hukou_location": "吉林省长春市朝阳区红旗街道", "signature": "signed", **extra}


def synthetic_household(index: int = 0, *, business_type: str = "dibao") -> dict[str, Any]:
    """A household as ``HouseholdForm`` takes it: applicant, spouse, a 6-year-old, an adult student, a
    conscript son (excluded, needs no signature), and an adult daughter working away (support-duty person)."""
    s = SURNAMES[index % len(SURNAMES)]
    n = index * 6
    return {
        "business_type": business_type,
        "region_code": REGION,
        "address": f"红旗街道幸福小区{index + 1}栋101室",
        "applicant_phone": "13800000000",
        "members": [
            person(f"{s}三丰测试", make_id(date(1970, 1, 5), n, male=True), relation="self", rule="BJ9-APPLICANT",
                   included=True),
            person(f"李秀兰测试{index}", make_id(date(1972, 3, 8), n + 1, male=False), relation="spouse",
                   rule="BJ9-IN-1", included=True),
            person(f"{s}小宝测试", make_id(date(2020, 6, 1), n + 2, male=True), relation="son", rule="BJ9-IN-1",
                   included=True, signature="guardian_signed", signed_by=f"李秀兰测试{index}"),
            person(f"{s}小雨测试", make_id(date(2004, 9, 1), n + 3, male=False), relation="daughter",
                   rule="BJ9-IN-4", included=True, signature="applicant_signed", member_informed=True,
                   signature_note="在外地上大学，短期内无法到场", evidence="在读证明"),
            person(f"{s}大军测试", make_id(date(2005, 2, 2), n + 4, male=True), relation="son", rule="BJ9-EX-1",
                   included=False, evidence="入伍通知书（义务兵）", signature="missing"),
        ],
        "obligors": [
            person(f"{s}小芳测试", make_id(date(1995, 4, 4), n + 5, male=False), relation="daughter",
                   duty="elder_support", signature="applicant_signed", member_informed=True,
                   signature_note="在外务工"),
        ],
        "authorisation": {"business_types": [business_type, "medical"], "signed_on": SIGNED_ON.isoformat(),
                          "handler_name": "周敏", "statement_copied": True},
    }


#: persons verified per synthetic household (the conscript is excluded)
SUBJECTS_PER_HOUSEHOLD = 5
PERSONS_PER_HOUSEHOLD = 6

_PERSON_COLUMNS = ["household", "role", "name", "id_number", "relation", "rule", "included", "duty", "evidence",
                   "residence_address", "hukou_location", "signature", "signed_by", "member_informed",
                   "signature_note"]
_HOUSEHOLD_COLUMNS = ["household", "business_type", "business_other", "rule_set", "region_code", "address",
                      "applicant_phone", "authorised_business_types", "authorised_business_other", "signed_on",
                      "valid_until", "handler_name", "statement_copied", "note"]
_DOCUMENT_COLUMNS = ["household", "kind", "file", "id_number"]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


@dataclass
class PackageSpec:
    """The parts of a package, editable by a test before :meth:`to_zip` (rows are dicts of CSV cells)."""

    households: list[dict[str, str]] = field(default_factory=list)
    persons: list[dict[str, str]] = field(default_factory=list)
    documents: list[dict[str, str]] = field(default_factory=list)
    scans: dict[str, bytes] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    def add_household(self, ref: str, data: dict[str, Any], *, scans: bool = True) -> None:
        auth = data["authorisation"]
        self.households.append({
            "household": ref, "business_type": data["business_type"], "business_other": data.get("business_other"),
            "rule_set": data.get("rule_set"), "region_code": data["region_code"], "address": data["address"],
            "applicant_phone": data.get("applicant_phone"),
            "authorised_business_types": ";".join(auth["business_types"]),
            "authorised_business_other": auth.get("business_other"), "signed_on": auth["signed_on"],
            "valid_until": auth.get("valid_until"), "handler_name": auth.get("handler_name"),
            "statement_copied": auth["statement_copied"], "note": data.get("note"),
        })
        for role, rows in (("member", data["members"]), ("obligor", data.get("obligors", []))):
            for row in rows:
                self.persons.append({"household": ref, "role": role,
                                     **{k: v for k, v in row.items() if k in _PERSON_COLUMNS}})
        if scans:
            self.add_scan(ref, "authorisation", f"scans/{ref}/authorisation.pdf", PDF)
            applicant = data["members"][0]["id_number"]
            self.add_scan(ref, "id_card", f"scans/{ref}/id_applicant.png", PNG, id_number=applicant)

    def add_scan(self, ref: str, kind: str, path: str, content: bytes, *, id_number: str | None = None) -> None:
        self.documents.append({"household": ref, "kind": kind, "file": path, "id_number": id_number})
        self.scans[path] = content

    def tables(self) -> dict[str, bytes]:
        return {"households.csv": _csv(_HOUSEHOLD_COLUMNS, self.households),
                "persons.csv": _csv(_PERSON_COLUMNS, self.persons),
                "documents.csv": _csv(_DOCUMENT_COLUMNS, self.documents)}

    def to_zip(self, *, tamper: dict[str, bytes] | None = None, counts: dict[str, int] | None = None,
               extra: dict[str, bytes] | None = None) -> bytes:
        """The zip; digests cover the real content, then ``tamper`` replaces files without updating them."""
        files = {**self.tables(), **self.scans}
        manifest = {
            "format": "hedui-household-package", "version": 1, "entrusting_unit": "HQ-MZB",
            "entrustment": {"number": "红民救委〔2026〕18号", "contact_name": "周敏", "contact_phone": "0431-88880000",
                            "entrusted_on": "2026-11-22"},
            "counts": {"households": len(self.households), "persons": len(self.persons),
                       "documents": len(self.documents)},
            "files": {name: hashlib.sha256(content).hexdigest() for name, content in sorted(files.items())},
            **self.manifest,
        }
        if counts:
            manifest["counts"] = {**manifest["counts"], **counts}
        files.update(tamper or {})
        files.update(extra or {})
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            for name, content in {"manifest.json": manifest_bytes, **files}.items():
                # fixed timestamps: the same spec always gives the same bytes (and package digest)
                archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 22, 10, 0, 0)), content,
                                 compress_type=zipfile.ZIP_DEFLATED)
        return buffer.getvalue()


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _text(row.get(c)) for c in columns})
    # a BOM, as spreadsheet programs write it
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def synthetic_package(households: int = 2) -> PackageSpec:
    """A valid package of ``households`` synthetic households, refs H001, H002, …"""
    spec = PackageSpec()
    for index in range(households):
        spec.add_household(f"H{index + 1:03d}", synthetic_household(index))
    return spec


if __name__ == "__main__":  # pragma: no cover - writes an example package for manual trials
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "example-package.zip"
    with open(target, "wb") as handle:
        handle.write(synthetic_package(2).to_zip())
    print(f"wrote {target}")
