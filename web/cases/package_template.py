"""Blank templates of the data package's tables (docs/data-package.md): CSV, and one xlsx workbook.

The CSV files are exactly what a package holds: UTF-8 with a BOM (so spreadsheet programs
open them in Chinese) and a header row of the column codes. The workbook, offered when
``openpyxl`` is installed, has one sheet per table plus a 说明 sheet describing each column;
save each table sheet as CSV (UTF-8) to build the package.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

from engine.services.packages import COLUMNS
from engine.services.packages import FORMAT
from engine.services.packages import TABLES
from engine.services.packages import VERSION

#: the .xlsx template is offered (openpyxl is a dependency; the flag keeps the page's wording in one place)
HAS_XLSX = True
XLSX = "template.xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: column -> (中文, 取值说明), per docs/data-package.md
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "households.csv": {
        "household": ("家庭编号（包内）", "包内唯一，如 H001"),
        "business_type": ("本次核对的业务类别",
                          "dibao 城乡低保、tekun 特困供养、low_income 低收入认定、temporary 临时救助、"
                          "education 教育救助、housing 住房救助、medical 医疗救助、other 其它"),
        "business_other": ("其它业务类别名称", "业务类别为 other 时填写"),
        "rule_set": ("家庭成员认定规则", "baoji_2020（默认）或 national_2021"),
        "region_code": ("所在区划代码", "6、9 或 12 位，须在受托核对机构辖区内"),
        "address": ("家庭住址", "文本"),
        "applicant_phone": ("申请人移动电话", "数字、+、-"),
        "authorised_business_types": ("授权书勾选的业务类别", "业务类别代码，以 ; 分隔"),
        "authorised_business_other": ("授权书「其它」业务名称", "勾选 other 时填写"),
        "signed_on": ("授权书签署日期", "YYYY-MM-DD，不晚于今天"),
        "valid_until": ("授权截止日期", "空 = 自签字之日起至停止社会救助之日止"),
        "handler_name": ("镇（街）经办人", "文本"),
        "statement_copied": ("第一申请人已抄写确认声明", "须为 是"),
        "note": ("备注", "文本"),
    },
    "persons.csv": {
        "household": ("家庭编号", "households.csv 中的家庭编号"),
        "role": ("人员类别", "member 共同生活家庭成员、obligor 法定赡养/扶养/抚养义务人"),
        "name": ("姓名", "1–50 字"),
        "id_number": ("居民身份证号", "18 位，末位校验码（可为 X）"),
        "relation": ("成员关系 / 与第一申请人关系",
                     "self 本人、spouse 配偶、son 儿子、daughter 女儿 等；每户恰有一名 self"),
        "rule": ("计入或不计入依据", "家庭成员必填，如 BJ9-APPLICANT、BJ9-IN-1、BJ9-EX-1；义务人不填"),
        "included": ("计入共同生活家庭成员", "是 / 否，须与依据一致"),
        "duty": ("义务类别", "义务人：elder_support 赡养、child_support 抚养、mutual_support 扶养"),
        "evidence": ("证明材料说明", "依据要求证明材料时填写"),
        "residence_address": ("家庭居住地址（门牌号）", "文本"),
        "hukou_location": ("户籍所在地", "文本"),
        "signature": ("签名及指模", "signed、guardian_signed、applicant_signed、missing"),
        "signed_by": ("代签人姓名", "监护人代签时填写"),
        "member_informed": ("申请人已告知本人", "申请人代签时须为 是"),
        "signature_note": ("代签说明", "申请人代签时说明原因"),
    },
    "documents.csv": {
        "household": ("家庭编号", "委托书扫描件（kind = entrustment）可为空"),
        "kind": ("材料类别", "authorisation 授权书、id_card 居民身份证、hukou 户口簿、entrustment 委托书、"
                             "evidence 证明材料、other 其他"),
        "file": ("文件路径", "数据包内路径，如 scans/H001/authorisation.pdf；PDF、JPEG、PNG，不超过 10 MB"),
        "id_number": ("对应人员身份证号", "居民身份证等个人材料：本户人员的身份证号"),
    },
}


def csv_template(table: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(list(COLUMNS[table]))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def manifest_template() -> bytes:
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "entrusting_unit": "（委托单位代码）",
        "entrustment": {"number": "", "contact_name": "（经办人）", "contact_phone": "（联系电话）",
                        "entrusted_on": "YYYY-MM-DD"},
        "counts": {"households": 0, "persons": 0, "documents": 0},
        "files": {name: "（该文件的 sha256 摘要，小写十六进制）" for name in TABLES},
    }
    return json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")


def xlsx_template() -> bytes:
    workbook = openpyxl.Workbook()
    notes = workbook.active  # a new workbook's one worksheet
    assert isinstance(notes, Worksheet)
    notes.title = "说明"
    notes.append(["数据表", "列名", "中文", "必填", "取值"])
    for table in TABLES:
        for column, required in COLUMNS[table].items():
            label, values = LABELS[table][column]
            notes.append([table, column, label, "是" if required else "", values])
        sheet = workbook.create_sheet(table.removesuffix(".csv"))
        sheet.append(list(COLUMNS[table]))
    notes.append([])
    notes.append(["每张数据表另存为 UTF-8 编码的 CSV 文件（文件名为 households.csv、persons.csv、documents.csv），"
                  "与扫描件和 manifest.json 一起打包为 zip。"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def render(name: str) -> tuple[bytes, str] | None:
    """``(content, mimetype)`` of a template by file name, or None when there is no such template."""
    if name in TABLES:
        return csv_template(name), "text/csv; charset=utf-8"
    if name == "manifest.json":
        return manifest_template(), "application/json"
    if name == XLSX and HAS_XLSX:
        return xlsx_template(), XLSX_TYPE
    return None
