"""The intake wizard's data: posted forms -> the draft (as typed), the draft -> the entrustment form.

A draft keeps every value exactly as typed, valid or not, so nothing is lost between steps
or across a reload. Validation is the household and entrustment forms of ``forms/``
(the same rules as the API and the package import); their errors are mapped back to the
wizard's field names (``members-0-id_number``) and to the step that shows each field.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import date
from typing import Any

from forms import FormError
from forms.base import whole_number
from forms.household import BUSINESS_TYPES
from forms.household import validate_entrustment
from forms.member_rules import DEFAULT_RULE_SET
from forms.member_rules import RULE_SETS

#: (code, title) of the wizard's steps, in order
STEPS = (("business", "业务类别"), ("members", "家庭成员及义务人"), ("documents", "授权书扫描件"),
         ("letter", "委托书预览"))
STEP_CODES = tuple(code for code, _ in STEPS)
STEP_TITLES = dict(STEPS)

ENTRUSTMENT_FIELDS = ("contact_name", "contact_phone", "number")
HOUSEHOLD_FIELDS = ("business_type", "business_other", "rule_set", "region_code", "address", "applicant_phone",
                    "note")
#: wizard field name -> authorisation field (the 授权书 part of step 1)
AUTHORISATION_FIELDS = {"auth_business_other": "business_other", "signed_on": "signed_on",
                        "valid_until": "valid_until", "handler_name": "handler_name"}
PERSON_FIELDS = {
    "members": ("name", "id_number", "relation", "rule", "evidence", "residence_address", "hukou_location",
                "signature", "signed_by", "member_informed", "signature_note"),
    "obligors": ("name", "id_number", "relation", "duty", "residence_address", "hukou_location", "signature",
                 "signed_by", "member_informed", "signature_note"),
}
TABLE_NAMES = {"members": "家庭成员", "obligors": "义务人"}
#: wizard field name -> Chinese label (the error list of the letter page)
FIELD_LABELS = {
    "contact_name": "经办人", "contact_phone": "联系电话", "number": "委托书编号",
    "business_type": "本次核对的业务类别", "business_other": "其它业务类别名称", "rule_set": "家庭成员认定规则",
    "region_code": "所在区划", "address": "家庭住址",
    "applicant_phone": "申请人移动电话", "note": "备注", "auth_business_types": "授权书勾选的业务类别",
    "auth_business_other": "授权书「其它」业务名称", "signed_on": "授权书签署日期", "valid_until": "授权截止日期",
    "handler_name": "镇（街）经办人", "statement_copied": "授权声明", "persons": "家庭成员", "documents": "扫描件",
    "_schema": "委托书",
}
PERSON_LABELS = {
    "name": "姓名", "id_number": "身份证号码", "relation": "关系", "rule": "计入或不计入依据",
    "evidence": "证明材料说明", "residence_address": "家庭居住地址", "hukou_location": "户籍所在地",
    "signature": "签名及指模", "signed_by": "代签人姓名",
    "member_informed": "已告知本人", "signature_note": "代签说明", "duty": "义务类别",
}
MAX_PERSONS = 30
_PERSON_KEY = re.compile(r"^(members|obligors)-(\d{1,2})-([a-z_]+)$")


def new_uid() -> str:
    return secrets.token_hex(6)


def empty_person(table: str, **values: Any) -> dict[str, Any]:
    person: dict[str, Any] = {name: "" for name in PERSON_FIELDS[table]}
    person["member_informed"] = False
    person["signature"] = "signed"
    return {"uid": new_uid(), **person, **values}


def new_draft_data(rule_set: str) -> dict[str, Any]:
    """A fresh wizard: the first member row is the first applicant (本人)."""
    rules = RULE_SETS.get(rule_set) or RULE_SETS[DEFAULT_RULE_SET]
    applicant_rule = next((r.code for r in rules.rules if r.applicant_only), "")
    household: dict[str, Any] = {name: "" for name in HOUSEHOLD_FIELDS}
    household["rule_set"] = rules.code
    household["authorisation"] = {"business_types": [], "business_other": "", "signed_on": "", "valid_until": "",
                                  "handler_name": "", "statement_copied": False}
    household["members"] = [empty_person("members", relation="self", rule=applicant_rule)]
    household["obligors"] = []
    return {"entrustment": {name: "" for name in ENTRUSTMENT_FIELDS}, "household": household}


# --- posted forms -> draft ------------------------------------------------------------------------------


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value[:2000] if isinstance(value, str) else ""


def read_business(form: Any, data: dict[str, Any]) -> None:
    """Step 1 (委托信息, 本次核对业务, 授权书, 家庭住址) into ``data``."""
    entrustment = data.setdefault("entrustment", {})
    for name in ENTRUSTMENT_FIELDS:
        entrustment[name] = _text(form, name)
    household = data.setdefault("household", {})
    for name in HOUSEHOLD_FIELDS:
        household[name] = _text(form, name)
    authorisation = household.setdefault("authorisation", {})
    authorisation["business_types"] = [v for v in form.getlist("auth_business_types") if v in BUSINESS_TYPES]
    for name, target in AUTHORISATION_FIELDS.items():
        authorisation[target] = _text(form, name)
    authorisation["statement_copied"] = form.get("statement_copied") == "yes"


def read_persons(form: Any, data: dict[str, Any]) -> None:
    """Step 2: the two tables of persons, rows in the order posted (indices need not be contiguous)."""
    rows: dict[str, dict[int, dict[str, Any]]] = {"members": {}, "obligors": {}}
    for key in form:
        match = _PERSON_KEY.match(key)
        if match is None:
            continue
        table, index, name = match.group(1), int(match.group(2)), match.group(3)
        if name in PERSON_FIELDS[table] or name == "uid":
            rows[table].setdefault(index, {})[name] = _text(form, key)
    household = data.setdefault("household", {})
    for table, by_index in rows.items():
        persons = []
        for index in sorted(by_index)[:MAX_PERSONS]:
            raw = by_index[index]
            person = {name: raw.get(name, "") for name in PERSON_FIELDS[table]}
            person["member_informed"] = raw.get("member_informed") == "yes"
            uid = raw.get("uid", "")
            person["uid"] = uid if re.fullmatch(r"[0-9a-f]{12}", uid) else new_uid()
            persons.append({"uid": person.pop("uid"), **person})
        household[table] = persons


def apply_row_action(action: str, data: dict[str, Any]) -> bool:
    """``add:members``, ``remove:obligors:2``: change the rows; False when ``action`` is none of these."""
    parts = action.split(":")
    household = data.setdefault("household", {})
    if len(parts) == 2 and parts[0] == "add" and parts[1] in PERSON_FIELDS:
        rows = household.setdefault(parts[1], [])
        if len(rows) < MAX_PERSONS:
            rows.append(empty_person(parts[1]))
        return True
    if (len(parts) == 3 and parts[0] == "remove" and parts[1] in PERSON_FIELDS
            and (index := whole_number(parts[2])) is not None):
        rows = household.setdefault(parts[1], [])
        if index < len(rows):
            del rows[index]
        return True
    return False


# --- draft -> entrustment form ----------------------------------------------------------------------------


def _given(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _person_input(person: Mapping[str, Any], table: str, rule_set: str) -> dict[str, Any]:
    out = {name: _given(person.get(name)) for name in PERSON_FIELDS[table] if name != "member_informed"}
    out = {k: v for k, v in out.items() if v is not None}
    out["id_number"] = _given(person.get("id_number"))
    out["member_informed"] = bool(person.get("member_informed"))
    if table == "members":
        rules = RULE_SETS.get(rule_set)
        rule = rules.get(out.get("rule", "")) if rules else None
        # the rule says whether the person counts; the clerk never ticks that separately
        out["included"] = rule.included if rule is not None else True
    return out


def household_input(data: Mapping[str, Any]) -> dict[str, Any]:
    """The draft's household in the shape of ``forms.household.HouseholdForm``."""
    household = data.get("household") or {}
    out: dict[str, Any] = {name: _given(household.get(name)) for name in HOUSEHOLD_FIELDS}
    out = {k: v for k, v in out.items() if v is not None}
    rule_set = out.get("rule_set") or DEFAULT_RULE_SET
    raw_auth = household.get("authorisation") or {}
    authorisation = {target: _given(raw_auth.get(target)) for target in AUTHORISATION_FIELDS.values()}
    authorisation = {k: v for k, v in authorisation.items() if v is not None}
    authorisation["business_types"] = list(raw_auth.get("business_types") or [])
    authorisation["statement_copied"] = bool(raw_auth.get("statement_copied"))
    out["authorisation"] = authorisation
    for table in PERSON_FIELDS:
        out[table] = [_person_input(p, table, rule_set) for p in household.get(table) or []]
    return out


def entrustment_input(data: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The draft as ``forms.household.EntrustmentForm`` input (one household, dated today)."""
    letter = data.get("entrustment") or {}
    return {"number": _given(letter.get("number")), "contact_name": _given(letter.get("contact_name")) or "",
            "contact_phone": _given(letter.get("contact_phone")) or "", "entrusted_on": today.isoformat(),
            "households": [household_input(data)]}


# --- errors -> wizard fields and steps ----------------------------------------------------------------------


def _messages(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [m for sub in value.values() for m in _messages(sub)]
    if isinstance(value, list | tuple):
        return [m for item in value for m in _messages(item)]
    return [str(value)]


def wizard_errors(fields: Mapping[str, Any]) -> dict[str, list[str]]:
    """Errors of ``create_entrustment`` / ``validate_entrustment`` keyed by the wizard's field names."""
    out: dict[str, list[str]] = {}

    def add(name: str, value: Any) -> None:
        out.setdefault(name, []).extend(m for m in _messages(value) if m not in out.get(name, []))

    for key, value in fields.items():
        if key == "households" and isinstance(value, Mapping):
            for sub in value.values():
                _household_errors(sub, add) if isinstance(sub, Mapping) else add("_schema", sub)
        elif key in ENTRUSTMENT_FIELDS:
            add(key, value)
        else:
            add("_schema", value)
    return out


_AUTH_NAMES = {target: name for name, target in AUTHORISATION_FIELDS.items()}


def _household_errors(fields: Mapping[str, Any], add: Any) -> None:
    for key, value in fields.items():
        if key in PERSON_FIELDS and isinstance(value, Mapping):
            for index, sub in value.items():
                if not isinstance(sub, Mapping):
                    add(key, sub)
                    continue
                for name, messages in sub.items():
                    add(f"{key}-{index}-{'rule' if name == 'included' else name}", messages)
        elif key == "authorisation" and isinstance(value, Mapping):
            for name, messages in value.items():
                add("auth_business_types" if name == "business_types" else _AUTH_NAMES.get(name, name), messages)
        elif key == "documents":
            add("documents", value)
        elif key == "_schema":
            add("persons", value)
        else:
            add(str(key), value)


def step_of(field_name: str) -> str:
    """The step whose page shows ``field_name``."""
    if field_name.startswith(("members", "obligors")) or field_name == "persons":
        return "members"
    if field_name == "documents":
        return "documents"
    if field_name == "_schema":
        return "letter"
    return "business"


def validate_draft(data: Mapping[str, Any], today: date) -> dict[str, list[str]]:
    """Every problem of the draft's entrustment and household, by wizard field (empty when valid)."""
    try:
        validate_entrustment(entrustment_input(data, today), today=today)
    except FormError as exc:
        return wizard_errors(exc.fields)
    return {}


def errors_for_step(errors: Mapping[str, list[str]], step: str) -> dict[str, list[str]]:
    return {name: messages for name, messages in errors.items() if step_of(name) == step}


def field_label(name: str, data: Mapping[str, Any]) -> str:
    """A Chinese description of where a field is, for the error list on the letter page."""
    match = _PERSON_KEY.match(name)
    if match:
        table, index = match.group(1), int(match.group(2))
        rows = (data.get("household") or {}).get(table) or []
        who = rows[index].get("name") if index < len(rows) else ""
        label = PERSON_LABELS.get(match.group(3), "")
        return f"第 {index + 1} 名{TABLE_NAMES[table]}{f'（{who}）' if who else ''} {label}".rstrip()
    return FIELD_LABELS.get(name, TABLE_NAMES.get(name, ""))
