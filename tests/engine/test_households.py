"""Households as the 授权书 records them (DO-1…DO-4): member rules as a decision table, duplicates,
support-duty persons kept apart, signatures, business types, and PR-3 (no eligibility verdict anywhere)."""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

import pytest
from marshmallow import fields as mm_fields

import engine.models  # noqa: F401
import forms
from engine.db import Base
from forms import FormError
from forms.base import FormSchema
from forms.household import BUSINESS_TYPES
from forms.household import HouseholdForm
from forms.household import count_subjects
from forms.household import validate_entrustment
from forms.household import validate_household
from forms.member_rules import BAOJI_2020
from forms.member_rules import RELATIONS
from forms.member_rules import RULE_SETS
from tests.engine.package_factory import make_id
from tests.engine.package_factory import person
from tests.engine.package_factory import synthetic_household

TODAY = date(2026, 11, 23)


def _errors(data: dict[str, Any], today: date = TODAY) -> dict[str, Any]:
    try:
        validate_household(data, today=today)
    except FormError as exc:
        return exc.fields
    return {}


def _with_member(**member: Any) -> dict[str, Any]:
    household = synthetic_household(0)
    household["members"].append(person("王五测试", member.pop("id_number", make_id(date(1990, 1, 1), 40, male=True)),
                                       **member))
    return household


def test_a_complete_household_validates_and_counts_its_subjects() -> None:
    data = validate_household(synthetic_household(0), today=TODAY)
    assert data["rule_set"] == "baoji_2020"
    assert data["authorisation"]["signed_on"] == date(2026, 11, 20)
    # 4 counted members + 1 support-duty person; the conscript is listed but not verified
    assert count_subjects(data) == 5
    assert validate_household(data, today=TODAY) == data  # a validated household validates again unchanged


def test_today_must_be_given_forms_never_read_the_clock() -> None:
    with pytest.raises(RuntimeError):
        forms.validate("household", synthetic_household(0))
    assert forms.validate("household", synthetic_household(0), context={"today": "2026-11-23"})["members"]


def test_household_and_entrustment_are_registered_forms() -> None:
    assert {"household", "entrustment"} <= set(forms.form_keys())


# --- member rules (DO-2, Baoji art. 9) as a decision table ----------------------------------------

ADULT_M, ADULT_F = make_id(date(1990, 1, 1), 40, male=True), make_id(date(1990, 1, 1), 41, male=False)
MINOR_M, MINOR_F = make_id(date(2012, 5, 5), 42, male=True), make_id(date(2012, 5, 5), 43, male=False)


@pytest.mark.parametrize(("relation", "rule", "included", "number", "evidence", "expected"), [
    ("spouse", "BJ9-IN-1", True, ADULT_F, None, None),
    ("adopted_child", "BJ9-IN-1", True, MINOR_F, None, None),
    ("father", "BJ9-IN-2", True, ADULT_M, None, None),
    ("mother", "BJ9-IN-1", True, ADULT_F, None, ("rule", "「夫妻及未婚子女」适用于")),
    ("younger_brother", "BJ9-IN-3", True, MINOR_M, None, None),
    ("younger_brother", "BJ9-IN-3", True, ADULT_M, None, ("rule", "未满18周岁")),
    ("son", "BJ9-IN-4", True, ADULT_M, None, None),
    ("son", "BJ9-IN-4", True, MINOR_M, None, ("rule", "年满18周岁")),
    ("other", "BJ9-IN-5", True, ADULT_M, None, None),
    ("son", "BJ9-IN-6", True, ADULT_M, None, None),
    ("son", "BJ9-IN-7", True, None, "出生医学证明、村委会证明", None),
    ("son", "BJ9-IN-7", True, None, None, ("evidence", "须注明证明材料")),
    ("son", "BJ9-IN-1", True, None, None, ("id_number", "请填写身份证号码")),
    ("son", "BJ9-IN-8", True, ADULT_M, None, None),
    ("son", "BJ9-EX-1", False, ADULT_M, "入伍通知书", None),
    ("son", "BJ9-EX-1", False, ADULT_M, None, ("evidence", "须注明证明材料")),
    ("other", "BJ9-EX-2", False, ADULT_M, "宗教活动场所证明", None),
    ("spouse", "BJ9-EX-3", False, ADULT_F, "判决书", None),
    ("daughter", "BJ9-EX-4", False, ADULT_F, None, None),
    ("daughter", "BJ9-EX-4", False, MINOR_F, None, ("rule", "年满18周岁")),
    ("daughter", "BJ9-EX-5", False, ADULT_F, None, None),
    ("son", "BJ9-EX-6", False, ADULT_M, "报案回执", None),
    ("younger_sister", "BJ9-EX-7", False, MINOR_F, "特困供养证", None),
    # included must agree with the rule: an excluded person carries its exclusion rule, and vice versa
    ("son", "BJ9-IN-6", False, ADULT_M, None, ("rule", "须注明适用的不计入情形")),
    ("son", "BJ9-EX-5", True, ADULT_M, None, ("rule", "须选择适用的计入情形")),
    ("son", "BJ9-APPLICANT", True, ADULT_M, None, ("rule", "仅适用于第一申请人")),
    ("son", "BJ9-IN-99", True, ADULT_M, None, ("rule", "没有该计入或不计入依据")),
    ("nephew", "BJ9-IN-5", True, ADULT_M, None, ("relation", "请选择成员关系")),
    # the relation's sex must match the ID number's 17th digit
    ("daughter", "BJ9-IN-1", True, MINOR_M, None, ("relation", "身份证号码显示为男性")),
])
def test_member_rules(relation: str, rule: str, included: bool, number: str | None, evidence: str | None,
                      expected: tuple[str, str] | None) -> None:
    signature = "guardian_signed" if number in (MINOR_M, MINOR_F, None) else "signed"
    data = _with_member(relation=relation, rule=rule, included=included, id_number=number, evidence=evidence,
                        signature=signature if included else "missing", signed_by="李秀兰测试0")
    errors = _errors(data)
    if expected is None:
        assert errors == {}
    else:
        field, fragment = expected
        assert any(fragment in m for m in errors["members"][5][field]), errors


def test_rule_sets_are_data_with_codes_text_and_direction() -> None:
    included = [r for r in BAOJI_2020.rules if r.included and not r.applicant_only]
    excluded = [r for r in BAOJI_2020.rules if not r.included]
    assert (len(included), len(excluded)) == (8, 7)  # Baoji art. 9 (一)1.(1)–(8) and 3.(1)–(7)
    for rule_set in RULE_SETS.values():
        codes = [r.code for r in rule_set.rules]
        assert len(codes) == len(set(codes))
        assert sum(r.applicant_only for r in rule_set.rules) == 1
        for rule in rule_set.rules:
            assert rule.text and not rule.text.isascii() and rule.source
            assert set(rule.relations) <= set(RELATIONS)


def test_the_national_rule_set_can_be_chosen() -> None:
    data = synthetic_household(0)
    data["rule_set"] = "national_2021"
    errors = _errors(data)
    assert errors["members"][0]["rule"] == ["「全国（民发〔2021〕57号）」中没有该计入或不计入依据"]
    data["members"] = data["members"][:2]
    data["members"][0]["rule"], data["members"][1]["rule"] = "N7-APPLICANT", "N7-IN-1"
    assert _errors(data) == {}


def test_exactly_one_first_applicant() -> None:
    data = synthetic_household(0)
    data["members"][1]["relation"] = "self"
    assert "有且仅有一名第一申请人" in _errors(data)["_schema"][0]
    data = synthetic_household(0)
    data["members"] = data["members"][1:]
    assert "有且仅有一名第一申请人" in _errors(data)["_schema"][0]


# --- duplicates (DO-3) and support-duty persons kept apart (DO-1, FAM-03) ----------------------------


def test_duplicate_id_numbers_within_a_household_are_refused() -> None:
    data = synthetic_household(0)
    data["members"][1]["id_number"] = data["members"][0]["id_number"]
    data["members"][1]["relation"] = "spouse"
    errors = _errors(data)
    assert errors["members"][1]["id_number"] == ["与第 1 名家庭成员的身份证号码重复，同一户内不能重复登记"]


def test_lower_case_x_does_not_hide_a_duplicate() -> None:
    data = _with_member(relation="other", rule="BJ9-IN-5", included=True, id_number="11010119800101007X")
    data["obligors"].append(person("赵六测试", "11010119800101007x", relation="other"))
    errors = _errors(data)
    assert "与第 6 名家庭成员的身份证号码重复" in errors["obligors"][1]["id_number"][0]


def test_a_support_duty_person_may_not_also_be_a_member() -> None:
    data = synthetic_household(0)
    data["obligors"][0]["id_number"] = data["members"][1]["id_number"]
    data["obligors"][0]["relation"] = "other"
    assert "与第 2 名家庭成员的身份证号码重复" in _errors(data)["obligors"][0]["id_number"][0]


def test_the_same_person_may_appear_in_two_households() -> None:
    first, second = synthetic_household(0), synthetic_household(1)
    second["obligors"][0]["id_number"] = first["members"][1]["id_number"]
    second["obligors"][0]["relation"] = "other"
    assert _errors(first) == {} and _errors(second) == {}


def test_support_duty_persons_have_no_member_rule_and_are_always_verified() -> None:
    data = synthetic_household(0)
    data["obligors"][0]["rule"] = "BJ9-IN-1"
    assert _errors(data)["obligors"][0]["rule"] == ["不允许的字段"]
    data = synthetic_household(0)
    data["obligors"][0]["relation"] = "self"
    assert _errors(data)["obligors"][0]["relation"] == ["请选择与第一申请人的关系"]
    data = synthetic_household(0)
    data["obligors"][0]["signature"] = "missing"
    assert "先授权，后核对" in _errors(data)["obligors"][0]["signature"][0]


# --- signatures (DO-4, 授权书 填写说明 三、五、六) ---------------------------------------------------


@pytest.mark.parametrize(("index", "changes", "field", "fragment"), [
    (0, {"signature": "guardian_signed", "signed_by": "某某"}, "signature", "第一申请人须本人签名"),
    (0, {"signature": "applicant_signed"}, "signature", "第一申请人须本人签名"),
    (1, {"signature": "missing"}, "signature", "先授权，后核对"),
    (1, {"signature": "guardian_signed", "signed_by": None}, "signed_by", "监护人姓名"),
    (3, {"member_informed": False}, "member_informed", "须先告知本人"),
    (3, {"signature_note": " "}, "signature_note", "无法到场签名的原因"),
    (2, {"signature": "signed"}, "signature", "未满8周岁"),
    (1, {"signature": "forged"}, "signature", "请选择签名情况"),
])
def test_signature_rules(index: int, changes: dict[str, Any], field: str, fragment: str) -> None:
    data = synthetic_household(0)
    data["members"][index].update(changes)
    errors = _errors(data)
    assert any(fragment in m for m in errors["members"][index][field]), errors


def test_an_excluded_person_needs_no_signature() -> None:
    data = synthetic_household(0)
    assert data["members"][4]["signature"] == "missing" and data["members"][4]["included"] is False
    assert _errors(data) == {}


# --- business types and the authorisation --------------------------------------------------------


@pytest.mark.parametrize("business_type", sorted(BUSINESS_TYPES))
def test_every_business_type_of_the_form_is_accepted(business_type: str) -> None:
    data = synthetic_household(0, business_type=business_type)
    if business_type == "other":
        data["business_other"] = "残疾人两项补贴"
        data["authorisation"]["business_other"] = "残疾人两项补贴"
    assert _errors(data) == {}


def test_business_type_rules() -> None:
    data = synthetic_household(0)
    data["business_type"] = "housing"
    assert _errors(data)["business_type"] == ["授权书未勾选本次核对的业务类别"]
    data = synthetic_household(0, business_type="other")
    errors = _errors(data)
    assert errors["business_other"] and errors["authorisation"]["business_other"]
    data = synthetic_household(0)
    data["authorisation"]["business_types"] = []
    assert _errors(data)["authorisation"]["business_types"] == ["请至少勾选一项业务类别"]
    data["authorisation"]["business_types"] = ["dibao", "lottery"]
    assert _errors(data)["authorisation"]["business_types"] == {1: ["未知的业务类别"]}


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"signed_on": "2026-11-24"}, "signed_on", "授权书签署日期不能晚于今天"),
    ({"valid_until": "2026-11-19"}, "valid_until", "授权截止日期不能早于签署日期"),
    ({"signed_on": "2025-01-01", "valid_until": "2026-01-01"}, "valid_until", "授权书已过期，请重新签署"),
    ({"statement_copied": False}, "statement_copied", "第一申请人须抄写并确认授权声明"),
    ({"signed_on": "2026-13-01"}, "signed_on", "应为日期（YYYY-MM-DD）"),
])
def test_authorisation_dates_and_statement(changes: dict[str, Any], field: str, message: str) -> None:
    data = synthetic_household(0)
    data["authorisation"].update(changes)
    assert _errors(data)["authorisation"][field] == [message]


def test_an_entrustment_checks_its_declared_counts_and_every_household() -> None:
    letter = {"contact_name": "周敏", "contact_phone": "0431-88880000", "entrusted_on": "2026-11-22",
              "household_count": 2, "person_count": 10, "households": [synthetic_household(0), synthetic_household(1)]}
    assert len(validate_entrustment(letter, today=TODAY)["households"]) == 2
    wrong = {**copy.deepcopy(letter), "household_count": 3, "person_count": 12}
    with pytest.raises(FormError) as info:
        validate_entrustment(wrong, today=TODAY)
    assert set(info.value.fields) == {"household_count", "person_count"}
    broken = copy.deepcopy(letter)
    broken["households"][1]["members"][2]["id_number"] = "220104202006010051"
    with pytest.raises(FormError) as info:
        validate_entrustment(broken, today=TODAY)
    assert info.value.fields == {
        "households": {1: {"members": {2: {"id_number": ["身份证号码校验位不正确，请核对后重新填写"]}}}}}


# --- PR-3: 只核对，不认定 ------------------------------------------------------------------------------

VERDICT = re.compile(r"eligib|qualif|entitle|verdict|合格|符合条件|资格|是否.{0,4}救助", re.IGNORECASE)


def _schema_fields(schema: FormSchema, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for name, field in schema.fields.items():
        out.append((f"{prefix}{name}", str(field.metadata.get("label", ""))))
        inner = field.inner if isinstance(field, mm_fields.List) else field
        if isinstance(inner, mm_fields.Nested):
            out += _schema_fields(inner.schema, f"{prefix}{name}.")
    return out


def test_no_eligibility_field_in_any_form() -> None:
    found = []
    for key in forms.form_keys():
        for name, label in _schema_fields(forms.get_schema(key)):
            if VERDICT.search(name) or VERDICT.search(label):
                found.append((key, name, label))
    assert found == []
    assert "members.rule" in dict(_schema_fields(HouseholdForm()))  # the scan sees nested fields


def test_no_eligibility_column_in_any_table() -> None:
    found = [(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns
             if VERDICT.search(c.name) or VERDICT.search(c.comment or "")]
    assert found == []
    assert VERDICT.search("is_eligible") and VERDICT.search("符合条件")  # the pattern itself works
