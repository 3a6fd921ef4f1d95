"""A household (户) as the 授权书 records it, and an entrustment (委托书) of several households.

DO-1…DO-5: the first applicant and the co-resident members (name, relation, identity
number, address, 户籍), each with the member rule that includes or excludes them; the
support-duty persons (义务人) as a separate list; the business types ticked; and each
person's signature. Identity numbers are checked (GB 11643) and may not repeat within a
household (DO-3). Every person to be verified (included members and support-duty persons)
must be covered by a signature (PR-1: 先授权，后核对). Nothing here records an
eligibility verdict (PR-3): the forms describe who is verified, never the outcome.

The validators need today's date (birth dates, signing dates): pass ``today`` in the
context (``forms.validate("household", data, context={"today": ...})``) or call
:func:`validate_household`. Forms are pure and never read the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import FormError
from forms import register
from forms.base import FormSchema
from forms.ids import IdNumberError
from forms.ids import ResidentId
from forms.ids import parse_id_number
from forms.member_rules import DEFAULT_RULE_SET
from forms.member_rules import DUTIES
from forms.member_rules import RELATIONS
from forms.member_rules import RULE_SETS
from forms.member_rules import MemberRule

#: 申请核对的业务类别 (授权书 1.)
BUSINESS_TYPES = {
    "dibao": "城乡低保",
    "tekun": "特困供养",
    "low_income": "低收入认定",
    "temporary": "临时救助",
    "education": "教育救助",
    "housing": "住房救助",
    "medical": "医疗救助",
    "other": "其它",
}
#: how a person's signature and fingerprint were given (授权书 填写说明 三、五、六)
SIGNATURES = {
    "signed": "本人签名并按指模",
    "guardian_signed": "监护人代为签名并按指模",
    "applicant_signed": "申请人告知本人后代为签名并按指模",
    "missing": "未签名",
}
#: signatures that make the authorisation cover the person
COVERING_SIGNATURES = frozenset({"signed", "guardian_signed", "applicant_signed"})
#: under this age a person has no legal capacity (民法典 第二十条): a guardian signs
NO_CAPACITY_BELOW = 8
#: a phone number as the paper forms take it (landline with area code, mobile, extension)
PHONE_PATTERN = r"^[0-9+\- ]{5,30}$"

_TEXT = validate.Length(max=255, error="不超过 255 字")


def _choice(choices: Mapping[str, Any], error: str) -> validate.OneOf:
    return validate.OneOf(list(choices), error=error)


class PersonSchema(FormSchema):
    """The columns both tables of the 授权书 share."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=50, error="姓名应为 1–50 字"),
                         metadata={"label": "姓名"})
    id_number = fields.String(load_default=None, validate=validate.Length(max=20, error="身份证号码应为 18 位"),
                              metadata={"label": "居民身份证号", "personal": True})
    residence_address = fields.String(required=True, validate=_TEXT, metadata={"label": "家庭居住地址（门牌号）"})
    hukou_location = fields.String(required=True, validate=_TEXT, metadata={"label": "户籍所在地"})
    signature = fields.String(required=True, validate=_choice(SIGNATURES, "请选择签名情况"),
                              metadata={"label": "签名及指模", "choices": SIGNATURES})
    signed_by = fields.String(load_default=None, validate=validate.Length(max=50, error="不超过 50 字"),
                              metadata={"label": "代签人姓名", "help": "监护人代签时填写监护人姓名"})
    member_informed = fields.Boolean(load_default=False, metadata={"label": "申请人已告知本人授权事宜"})
    signature_note = fields.String(load_default=None, validate=_TEXT,
                                   metadata={"label": "代签说明", "help": "如在外上学、务工，短期内无法到场"})


class MemberSchema(PersonSchema):
    """A row of 共同生活的家庭成员基本信息, with the rule that includes or excludes the person (DO-2)."""

    relation = fields.String(required=True, validate=_choice(RELATIONS, "请选择成员关系"),
                             metadata={"label": "成员关系", "choices": {k: v[0] for k, v in RELATIONS.items()}})
    rule = fields.String(required=True, validate=validate.Length(min=1, max=30, error="请选择计入或不计入的依据"),
                         metadata={"label": "计入或不计入依据"})
    included = fields.Boolean(required=True, metadata={"label": "计入共同生活家庭成员"})
    evidence = fields.String(load_default=None, validate=validate.Length(max=500, error="不超过 500 字"),
                             metadata={"label": "证明材料说明"})


class ObligorSchema(PersonSchema):
    """A row of 法定赡养、扶养、抚养义务人基本信息 (verified, not counted as a member: FAM-03)."""

    relation = fields.String(
        required=True,
        validate=validate.OneOf([k for k in RELATIONS if k != "self"], error="请选择与第一申请人的关系"),
        metadata={"label": "与第一申请人关系", "choices": {k: v[0] for k, v in RELATIONS.items() if k != "self"}},
    )
    duty = fields.String(load_default=None, validate=_choice(DUTIES, "请选择义务类别"),
                         metadata={"label": "义务类别", "choices": DUTIES})


class AuthorisationSchema(FormSchema):
    """The 授权书 itself: business types ticked, date signed, validity (DO-4)."""

    business_types = fields.List(
        fields.String(validate=_choice(BUSINESS_TYPES, "未知的业务类别")), required=True,
        validate=validate.Length(min=1, error="请至少勾选一项业务类别"),
        metadata={"label": "申请核对的业务类别", "choices": BUSINESS_TYPES},
    )
    business_other = fields.String(load_default=None, validate=validate.Length(max=100, error="不超过 100 字"),
                                   metadata={"label": "其它业务类别名称"})
    signed_on = fields.Date(required=True, metadata={"label": "签署日期"})
    valid_until = fields.Date(load_default=None, metadata={
        "label": "授权截止日期", "help": "不填写即自签字之日起至停止社会救助之日止"})
    handler_name = fields.String(load_default=None, validate=validate.Length(max=50, error="不超过 50 字"),
                                 metadata={"label": "镇（街）经办人"})
    statement_copied = fields.Boolean(required=True, metadata={"label": "第一申请人已抄写并确认授权声明"})


@register
class HouseholdForm(FormSchema):
    """One household's 授权书: the unit of one verification case."""

    form_key = "household"
    title = "核对对象家庭及授权书"

    business_type = fields.String(required=True, validate=_choice(BUSINESS_TYPES, "请选择本次核对的业务类别"),
                                  metadata={"label": "本次核对的业务类别", "choices": BUSINESS_TYPES})
    business_other = fields.String(load_default=None, validate=validate.Length(max=100, error="不超过 100 字"),
                                   metadata={"label": "其它业务类别名称"})
    rule_set = fields.String(load_default=DEFAULT_RULE_SET, validate=_choice(RULE_SETS, "未知的成员认定规则"),
                             metadata={"label": "家庭成员认定规则"})
    region_code = fields.String(
        required=True, validate=validate.Regexp(r"^\d{6}(\d{3}){0,2}$", error="应为 6、9 或 12 位行政区划代码"),
        metadata={"label": "所在区划（县、镇街、村居）"})
    address = fields.String(required=True, validate=validate.Length(min=1, max=255, error="请填写家庭住址"),
                            metadata={"label": "家庭住址"})
    applicant_phone = fields.String(load_default=None, validate=validate.Regexp(
        PHONE_PATTERN, error="电话号码格式不正确"), metadata={"label": "移动电话"})
    members = fields.List(fields.Nested(MemberSchema), required=True,
                          validate=validate.Length(min=1, max=30, error="家庭成员应为 1–30 人"),
                          metadata={"label": "共同生活的家庭成员"})
    obligors = fields.List(fields.Nested(ObligorSchema), load_default=list,
                           validate=validate.Length(max=30, error="义务人不超过 30 人"),
                           metadata={"label": "法定赡养、扶养、抚养义务人"})
    authorisation = fields.Nested(AuthorisationSchema, required=True, metadata={"label": "授权书"})
    note = fields.String(load_default=None, validate=validate.Length(max=2000, error="不超过 2000 字"),
                         metadata={"label": "备注"})

    @validates_schema(skip_on_field_errors=False)
    def _check_household(self, data: dict[str, Any], **_: Any) -> None:
        errors = _HouseholdCheck(data, context_today(self)).run()
        if errors:
            raise ValidationError(errors)


@register
class EntrustmentForm(FormSchema):
    """A 委托书: "对×××等××户××人开展经济状况核对", contact, date, and its households (DO-5)."""

    form_key = "entrustment"
    title = "核对委托书"

    number = fields.String(load_default=None, validate=validate.Length(max=40, error="不超过 40 字"),
                           metadata={"label": "委托书编号"})
    contact_name = fields.String(required=True, validate=validate.Length(min=1, max=50, error="请填写经办人"),
                                 metadata={"label": "经办人"})
    contact_phone = fields.String(required=True, validate=validate.Regexp(
        PHONE_PATTERN, error="联系电话格式不正确"), metadata={"label": "联系电话"})
    entrusted_on = fields.Date(required=True, metadata={"label": "委托时间"})
    household_count = fields.Integer(load_default=None, validate=validate.Range(min=1, error="户数至少为 1"),
                                     metadata={"label": "委托户数"})
    person_count = fields.Integer(load_default=None, validate=validate.Range(min=1, error="人数至少为 1"),
                                  metadata={"label": "委托人数"})
    households = fields.List(fields.Dict(), required=True,
                             validate=validate.Length(min=1, max=500, error="每份委托书 1–500 户"),
                             metadata={"label": "核对对象家庭"})

    @validates_schema(skip_on_field_errors=False)
    def _check_entrustment(self, data: dict[str, Any], **_: Any) -> None:
        today = context_today(self)
        errors: dict[str, Any] = {}
        if data.get("entrusted_on") and data["entrusted_on"] > today:
            errors["entrusted_on"] = ["委托时间不能晚于今天"]
        loaded, household_errors = [], {}
        for index, household in enumerate(data.get("households") or []):
            try:
                loaded.append(validate_household(household, today=today))
            except FormError as exc:
                household_errors[index] = exc.fields
        if household_errors:
            errors["households"] = household_errors
        elif "households" in data:
            data["households"] = loaded
            errors.update(_declared_counts(data, loaded))
        if errors:
            raise ValidationError(errors)


def _declared_counts(data: Mapping[str, Any], households: list[dict[str, Any]]) -> dict[str, list[str]]:
    errors = {}
    if data.get("household_count") not in (None, len(households)):
        errors["household_count"] = [f"委托书所列户数与实际户数（{len(households)} 户）不符"]
    persons = sum(count_subjects(h) for h in households)
    if data.get("person_count") not in (None, persons):
        errors["person_count"] = [f"委托书所列人数与实际核对人数（{persons} 人）不符"]
    return errors


def context_today(schema: FormSchema) -> date:
    """``today`` from the validation context; refusing to guess keeps forms free of the wall clock."""
    value = getattr(schema, "context_properties", {}).get("today")
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if not isinstance(value, date):
        raise RuntimeError(f"{type(schema).__name__} needs context={{'today': date}}")
    return value


def validate_household(data: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """Validate one household (raw or already validated); raise :class:`FormError` with per-field messages."""
    return _load(HouseholdForm(), data, today)


def validate_entrustment(data: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """Validate a 委托书 with its households; raise :class:`FormError` with per-field messages."""
    return _load(EntrustmentForm(), data, today)


def _load(schema: FormSchema, data: Mapping[str, Any], today: date) -> dict[str, Any]:
    schema.context_properties = {"today": today}
    try:
        return dict(schema.load(_plain(data)))
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise FormError(messages) from exc


def _plain(value: Any) -> Any:
    """Already-validated input (dates as objects) back to what a client sends, so it validates again."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def is_subject(person: Mapping[str, Any], role: str) -> bool:
    """Whether the person is verified: every support-duty person and every member counted in the household."""
    return role == "obligor" or bool(person.get("included"))


def count_subjects(household: Mapping[str, Any]) -> int:
    """The persons to verify (the "××人" of the 委托书)."""
    return sum(is_subject(m, "member") for m in household.get("members") or []) + len(household.get("obligors") or [])


class _HouseholdCheck:
    """The cross-field rules of one household; collects every problem, keyed like marshmallow's errors."""

    def __init__(self, data: dict[str, Any], today: date) -> None:
        self.data, self.today = data, today
        self.rules = RULE_SETS.get(data.get("rule_set") or DEFAULT_RULE_SET)
        self.errors: dict[str, Any] = {}
        self.seen: dict[str, str] = {}

    def add(self, path: tuple[Any, ...], message: str) -> None:
        node = self.errors
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(path[-1], []).append(message)

    def run(self) -> dict[str, Any]:
        members = self.data.get("members") or []
        for index, member in enumerate(members):
            self.check_person(member, "members", index)
        for index, obligor in enumerate(self.data.get("obligors") or []):
            self.check_person(obligor, "obligors", index)
        applicants = [m for m in members if m.get("relation") == "self"]
        if "members" in self.data and len(applicants) != 1:
            self.add(("_schema",), "家庭成员中须有且仅有一名第一申请人（成员关系为「本人」）")
        self.check_business()
        return self.errors

    def check_person(self, person: dict[str, Any], table: str, index: int) -> None:
        resident = self.check_id(person, table, index)
        self.check_sex(person, resident, (table, index, "relation"))
        if table == "members":
            self.check_rule(person, resident, index)
        self.check_signature(person, resident, table, index)

    def check_id(self, person: dict[str, Any], table: str, index: int) -> ResidentId | None:
        path = (table, index, "id_number")
        if "id_number" not in person:  # already refused by the field itself
            return None
        raw = person["id_number"]
        if raw is None or not str(raw).strip():
            person["id_number"] = None
            rule = self.rule_of(person) if table == "members" else None
            if not (rule and rule.id_optional):
                self.add(path, "请填写身份证号码")
            return None
        try:
            resident = parse_id_number(raw, today=self.today)
        except IdNumberError as exc:
            self.add(path, exc.message)
            return None
        person["id_number"] = resident.number
        where = f"第 {index + 1} 名{'家庭成员' if table == 'members' else '义务人'}"
        if resident.number in self.seen:
            self.add(path, f"与{self.seen[resident.number]}的身份证号码重复，同一户内不能重复登记")
        else:
            self.seen[resident.number] = where
        return resident

    def check_sex(self, person: dict[str, Any], resident: ResidentId | None, path: tuple[Any, ...]) -> None:
        label, sex = RELATIONS.get(person.get("relation") or "", ("", None))
        if resident is not None and sex is not None and resident.sex != sex:
            shown = "男性" if resident.sex == "male" else "女性"
            self.add(path, f"身份证号码显示为{shown}，与成员关系「{label}」不符")

    def rule_of(self, person: Mapping[str, Any]) -> MemberRule | None:
        return self.rules.get(person.get("rule") or "") if self.rules else None

    def check_rule(self, person: dict[str, Any], resident: ResidentId | None, index: int) -> None:
        if "rule" not in person or self.rules is None:
            return
        rule, relation = self.rule_of(person), person.get("relation")
        if rule is None:
            self.add(("members", index, "rule"), f"「{self.rules.name}」中没有该计入或不计入依据")
            return
        for field, message in _rule_problems(rule, person, relation, resident, self.today):
            self.add(("members", index, field), message)

    def check_signature(self, person: dict[str, Any], resident: ResidentId | None, table: str, index: int) -> None:
        signature, role = person.get("signature"), "member" if table == "members" else "obligor"
        path = (table, index)
        if person.get("relation") == "self" and signature not in (None, "signed"):
            self.add((*path, "signature"), "第一申请人须本人签名并按指模")
        elif signature == "missing" and is_subject(person, role):
            self.add((*path, "signature"), "该人员未签署授权书，不能开展核对（先授权，后核对）")
        elif signature == "guardian_signed" and not (person.get("signed_by") or "").strip():
            self.add((*path, "signed_by"), "监护人代签的，请填写监护人姓名")
        elif signature == "applicant_signed":
            if not person.get("member_informed"):
                self.add((*path, "member_informed"), "申请人须先告知本人授权事宜，方可代为签名")
            if not (person.get("signature_note") or "").strip():
                self.add((*path, "signature_note"), "请说明本人无法到场签名的原因（如在外上学、务工）")
        if signature == "signed" and resident is not None and resident.age_on(self.today) < NO_CAPACITY_BELOW:
            self.add((*path, "signature"), f"未满{NO_CAPACITY_BELOW}周岁的无民事行为能力人应由监护人代为签名")

    def check_business(self) -> None:
        authorisation = self.data.get("authorisation")
        if isinstance(authorisation, dict):
            _check_authorisation(self, authorisation)
            ticked = authorisation.get("business_types")
            business = self.data.get("business_type")
            if business and ticked is not None and business not in ticked:
                self.add(("business_type",), "授权书未勾选本次核对的业务类别")
        if self.data.get("business_type") == "other" and not (self.data.get("business_other") or "").strip():
            self.add(("business_other",), "请填写其它业务类别名称")


def _check_authorisation(check: _HouseholdCheck, authorisation: dict[str, Any]) -> None:
    signed_on, until = authorisation.get("signed_on"), authorisation.get("valid_until")
    if signed_on and signed_on > check.today:
        check.add(("authorisation", "signed_on"), "授权书签署日期不能晚于今天")
    if until and signed_on and until < signed_on:
        check.add(("authorisation", "valid_until"), "授权截止日期不能早于签署日期")
    elif until and until < check.today:
        check.add(("authorisation", "valid_until"), "授权书已过期，请重新签署")
    other_ticked = "other" in (authorisation.get("business_types") or [])
    if other_ticked and not (authorisation.get("business_other") or "").strip():
        check.add(("authorisation", "business_other"), "勾选「其它」的，请填写业务类别名称")
    if "statement_copied" in authorisation and authorisation["statement_copied"] is not True:
        check.add(("authorisation", "statement_copied"), "第一申请人须抄写并确认授权声明")


def _rule_problems(rule: MemberRule, person: Mapping[str, Any], relation: str | None, resident: ResidentId | None,
                   today: date) -> list[tuple[str, str]]:
    """What makes ``rule`` not fit the person: (field, Chinese message) pairs."""
    problems = []
    if rule.applicant_only and relation != "self":
        problems.append(("rule", "该依据仅适用于第一申请人"))
    elif relation == "self" and not rule.applicant_only:
        problems.append(("rule", f"第一申请人请选择「{_applicant_label(rule)}」"))
    elif rule.relations and relation and relation not in rule.relations:
        names = "、".join(RELATIONS[r][0] for r in rule.relations)
        problems.append(("rule", f"「{rule.label}」适用于{names}，与成员关系不符"))
    included = person.get("included")
    if included is False and rule.included:
        problems.append(("rule", "不计入家庭成员的人员须注明适用的不计入情形"))
    elif included is True and not rule.included:
        problems.append(("rule", "计入家庭成员的人员须选择适用的计入情形"))
    if resident is not None:
        age = resident.age_on(today)
        if rule.min_age is not None and age < rule.min_age:
            problems.append(("rule", f"「{rule.label}」适用于年满{rule.min_age}周岁的人员"))
        if rule.below_age is not None and age >= rule.below_age:
            problems.append(("rule", f"「{rule.label}」适用于未满{rule.below_age}周岁的人员"))
    if rule.needs_evidence and not (person.get("evidence") or "").strip():
        problems.append(("evidence", f"「{rule.label}」须注明证明材料"))
    return problems


def _applicant_label(rule: MemberRule) -> str:
    rule_set = next((rs for rs in RULE_SETS.values() if rule in rs.rules), None)
    applicant = next((r for r in rule_set.rules if r.applicant_only), None) if rule_set else None
    return applicant.label if applicant else "第一申请人"
