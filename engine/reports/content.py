"""The report snapshot: what a 核对报告 says, taken once from the case, the exchange results and the policy.

The snapshot is plain JSON (``format: hedui-report/1``) so it can be hashed, archived and rendered
again years later without the tables it came from. It holds:

* ``cover`` (BJ 附件3, DO-7): number, addressee, legal basis of the policy profile, the entrustment
  date, "经×××等×户×人书面授权", the income period from–to and the property reference date, the copy
  count (the page count is filled in by :mod:`engine.reports.service` after a first layout), the
  "reference only" restriction and "核对结果明细详见附表";
* ``persons``: the verified persons, co-resident members first, support-duty persons marked;
* ``sources``: one row per person × sharing unit × category with the status (有数据 / 无记录 / 未反馈 /
  超期未反馈), the response time and every returned record (RPT-02): a unit that did not answer is
  listed, never left out;
* ``levels`` / ``entrusted_by`` (分级出具报告, PS-5): which agency (level) checked which items — this
  agency's own, and the upper agencies checking the rest for the case, which report separately — and,
  in an upper agency's report, the lower agency's case it was issued for (``engine.reports.levels``);
* ``summary``: income by the 2021 categories and property by class, per counted member and for the
  household, with the per-capita income for the period (RPT-03).

Where they come from: the legal basis and the length of the income period are the policy profile's
(``engine.policy.LEGAL_BASIS``, ``report_income_months``); the income period is that many whole
months before the entrustment month and the property reference date is the entrustment date
(委托时间: the day the household's written authorisation was handed over with the letter).

Only economic facts: no field, label or sentence states or suggests an eligibility verdict (PR-3).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.calendar import SHANGHAI
from engine.context import EngineContext
from engine.exchange.catalogue import CATEGORIES
from engine.exchange.categories import INCOME_CATEGORIES
from engine.exchange.categories import PROPERTY_CLASSES
from engine.models import Unit
from engine.models.case import Household
from engine.models.case import PersonRole
from engine.models.exchange import RESULT_STATUS_NAMES
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeResult
from engine.models.exchange import ResultStatus
from engine.policy import Policy
from engine.reports.levels import snapshot_levels
from engine.services.spending import report_section as spending_report_section
from forms.household import BUSINESS_TYPES
from forms.member_rules import DUTIES
from forms.member_rules import RELATIONS

FORMAT = "hedui-report/1"
KIND_NAMES = {"verification": "核对报告", "reverification": "复核报告"}
TITLES = {"verification": "居民家庭（个人）经济状况核对报告", "reverification": "居民家庭（个人）经济状况复核报告"}
RESTRICTION = "仅作为相关业务部门作出行政审批决定的参考，不作其他用途"
ANNEX_NOTE = "核对结果明细详见附表。"
#: 一式两份: one for the entrusting unit, one kept in the case archive (BJ 附件3 leaves the number open)
COPIES = 2
ROLE_NAMES = {"member": "共同生活家庭成员", "obligor": "法定赡养、扶养、抚养义务人"}


@dataclass(frozen=True)
class Issue:
    """What the issuing step decides: who issues what, when, with which number and validity."""

    kind: str
    number: str
    agency: Unit
    addressee: Unit
    issued_at: datetime
    issued_on: date
    issued_by: str
    valid_until: date
    remarks: str | None = None
    agency_ref: str | None = None
    supersedes: dict[str, Any] | None = None
    #: 复核报告 only: the objection or other trigger (LOC-28, the 复核表) and the original report's snapshot
    #: (with its row ``id`` added, so the 复核报告 can link to it)
    trigger: dict[str, Any] | None = None
    original: dict[str, Any] | None = None


def build(ctx: EngineContext, household: Household, issue: Issue, policy: Policy) -> dict[str, Any]:
    """The complete snapshot of ``household``'s report (pages still 0: the caller lays it out once to count)."""
    entrustment = household.entrustment
    subjects = [p for p in household.persons if p.is_subject]
    applicant = household.applicant or (subjects[0] if subjects else None)
    income_from, income_to = policy.income_period(entrustment.entrusted_on)
    persons = [{"position": p.position, "name": p.name, "id_number": p.id_number, "role": p.role.value,
                "role_name": ROLE_NAMES[p.role.value], "relation": RELATIONS.get(p.relation, (p.relation, None))[0],
                "counted": p.role is PersonRole.MEMBER and p.is_included,
                "duty": DUTIES.get(p.duty, p.duty or "").split("（")[0] if p.duty else None} for p in subjects]
    sources = _sources(ctx, household, issue.issued_at)
    # 分级出具报告 (PS-5): who checked what, and for whom an upper agency reports
    levels, entrusted_by = snapshot_levels(ctx, household, issue.agency, sorted({s["unit"] for s in sources}))
    months = policy.report_income_months
    out: dict[str, Any] = {
        "format": FORMAT, "kind": issue.kind, "title": TITLES[issue.kind], "number": issue.number,
        "case_no": household.case_no, "issued_at": issue.issued_at.isoformat(),
        "issued_on": issue.issued_on.isoformat(),
        "issued_by": issue.issued_by, "valid_until": issue.valid_until.isoformat(),
        "validity_months": policy.report_validity_months,
        "agency": {"code": issue.agency.code, "name": issue.agency.name},
        "addressee": {"code": issue.addressee.code, "name": issue.addressee.name},
        "business_type": BUSINESS_TYPES.get(household.business_type, household.business_type),
        "cover": {
            "policy_profile": policy.profile, "legal_basis": list(policy.legal_basis),
            "entrustment_no": entrustment.number, "entrusted_on": entrustment.entrusted_on.isoformat(),
            "authorised": {"first_applicant": applicant.name if applicant else "", "households": 1,
                           "persons": len(subjects)},
            "income_period": {"from": income_from.isoformat(), "to": income_to.isoformat(), "months": months},
            "property_as_of": entrustment.entrusted_on.isoformat(),
            "pages": 0, "copies": COPIES, "restriction": RESTRICTION,
            "annex_note": "复核结果明细详见附表。" if issue.kind == "reverification" else ANNEX_NOTE,
        },
        "persons": persons,
        "sources": sources,
        "summary": _summary(persons, sources, months),
        "levels": levels,
        "remarks": issue.remarks, "agency_ref": issue.agency_ref, "supersedes": issue.supersedes,
    }
    if entrusted_by:
        out["entrusted_by"] = entrusted_by
    spending = spending_report_section(ctx, household)  # 支出调查 (DO-9): refused while still open
    if spending is not None:
        out["spending"] = spending
    if issue.kind == "reverification":
        out["reverification"] = _review(issue, out)
    return out


def _review(issue: Issue, out: dict[str, Any]) -> dict[str, Any]:
    """A 复核报告's trigger, original report and differences; a level's 复核报告 of a tiered
    re-verification (分级出具报告, PS-5) compares only the items that level checked (``scope``)."""
    partial = "entrusted_by" in out or any(not lv.get("own") for lv in out["levels"])
    units = {s["unit_code"] for s in out["sources"]} if partial else None
    review: dict[str, Any] = {
        "trigger": issue.trigger or {},
        "original": _original_ref(issue.original) if issue.original else None,
        "differences": differences(issue.original, out, units=units) if issue.original else []}
    if units is not None and issue.original and not _covers(units, issue.original):
        review["scope"] = "own_items"
    return review


def _covers(units: set[str], original: dict[str, Any]) -> bool:
    return all(s["unit_code"] in units for s in original["sources"])


def _original_ref(original: dict[str, Any]) -> dict[str, Any]:
    """How a 复核报告 names the report it re-verifies: number and date, and where to find it (id, case, agency)."""
    return {"number": original["number"], "issued_on": original["issued_on"], "id": original.get("id"),
            "case_no": original.get("case_no"), "agency": original.get("agency", {}).get("name")}


def _source_key(s: dict[str, Any], persons: dict[int, str]) -> tuple[str, str, str]:
    return persons.get(s["person"], ""), s["unit_code"], s["category"]


def differences(original: dict[str, Any], new: dict[str, Any], *,
                units: set[str] | None = None) -> list[dict[str, Any]]:
    """What a 复核报告 finds different from the original report (RPT-07): per source and in the totals.

    Sources are matched by person name, unit and category (positions may differ between cases);
    a source is different when its status or its returned records differ.

    :param units: one level's 复核报告 of a tiered re-verification (PS-5): only these units are
        compared, and the totals only when they cover every unit of the original report.
    """
    names_old = {p["position"]: p["name"] for p in original["persons"]}
    names_new = {p["position"]: p["name"] for p in new["persons"]}
    old = {_source_key(s, names_old): s for s in original["sources"] if units is None or s["unit_code"] in units}
    cur = {_source_key(s, names_new): s for s in new["sources"]}
    out = []
    for key in sorted(set(old) | set(cur)):
        before, after = old.get(key), cur.get(key)
        if before and after and (before["status"], before["records"]) == (after["status"], after["records"]):
            continue
        sample = after or before
        assert sample is not None
        out.append({"item": f"{key[0]} · {sample['unit']} · {sample['category_name']}",
                     "before": _describe_source(before), "after": _describe_source(after)})
    for field, label in (("household_income_total", "家庭期间收入合计"), ("household_assets_total", "家庭财产合计"),
                         ("per_capita_income", "期间人均收入")):
        if (units is None or _covers(units, original)) and original["summary"].get(field) != new["summary"].get(field):
            out.append({"item": label, "before": original["summary"].get(field) or "—",
                        "after": new["summary"].get(field) or "—"})
    return out


def _describe_source(s: dict[str, Any] | None) -> str:
    if s is None:
        return "（未核对）"
    status_name: str = s["status_name"]
    return status_name + (f"（{len(s['records'])} 条记录）" if s["records"] else "")


def _sources(ctx: EngineContext, household: Household, at: datetime) -> list[dict[str, Any]]:
    """Every person × unit × category asked, with its status at ``at`` (a lapsed wait is 超期未反馈)."""
    assert household.instance_id is not None
    rows = ctx.session.execute(
        select(ExchangeResult, ExchangeRequest, Unit)
        .join(ExchangeRequest, ExchangeRequest.id == ExchangeResult.request_id)
        .join(Unit, Unit.id == ExchangeResult.unit_id)
        .where(ExchangeRequest.instance_id == household.instance_id)
        .order_by(Unit.code, ExchangeResult.category, ExchangeResult.person_id)).all()
    positions = {p.id: p.position for p in household.persons}
    out = []
    for result, request, unit in rows:
        status = result.status
        if status is ResultStatus.PENDING and request.reply_due <= at:
            status = ResultStatus.OVERDUE
        answered = status in (ResultStatus.FOUND, ResultStatus.NONE)
        out.append({
            "person": positions.get(result.person_id), "unit": unit.name, "unit_code": unit.code,
            "category": result.category, "category_name": CATEGORIES.get(result.category, (result.category, ""))[0],
            "status": status.value, "status_name": RESULT_STATUS_NAMES[status.value],
            "responded_at": (request.answered_at.astimezone(SHANGHAI).isoformat()
                             if answered and request.answered_at else None),
            "records": list((result.raw or {}).get("records", [])) if answered else [],
            "items": list(result.normalised or []) if answered else [],
        })
    return out


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _summary(persons: list[dict[str, Any]], sources: list[dict[str, Any]], months: int) -> dict[str, Any]:
    """Income by category and property by class, per counted member and for the household (RPT-03).

    Amounts from the sources are annual; the period income is scaled to ``months``. When several
    sources report the same income category for one person (tax and employment both report wages),
    the highest source total counts, not their sum, so one income is never counted twice.
    Support-duty persons are listed apart and not added to the household's totals.
    """
    income: dict[tuple[int, str], dict[str, Decimal]] = defaultdict(dict)
    prop: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for s in sources:
        for item in s["items"]:
            key = (s["person"], item["class"])
            amount = Decimal(item["amount"])
            if item["kind"] == "income":
                by_unit = income[key]
                by_unit[s["unit_code"]] = by_unit.get(s["unit_code"], Decimal(0)) + amount
            else:
                prop[key] += amount
    scale = Decimal(months) / Decimal(12)
    rows = []
    totals_income: dict[str, Decimal] = defaultdict(Decimal)
    totals_property: dict[str, Decimal] = defaultdict(Decimal)
    for person in persons:
        pos = person["position"]
        inc = {c: max(income[(pos, c)].values()) * scale for c in INCOME_CATEGORIES if income.get((pos, c))}
        pro = {c: prop[(pos, c)] for c in PROPERTY_CLASSES if (pos, c) in prop}
        if person["counted"]:
            for c, v in inc.items():
                totals_income[c] += v
            for c, v in pro.items():
                totals_property[c] += v
        rows.append({"person": pos, "counted": person["counted"],
                     "income": {c: _money(v) for c, v in inc.items()},
                     "property": {c: _money(v) for c, v in pro.items()},
                     "income_total": _money(sum(inc.values(), Decimal(0)))})
    counted = sum(1 for p in persons if p["counted"])
    income_total = sum(totals_income.values(), Decimal(0))
    assets = sum((v for c, v in totals_property.items() if c != "debts"), Decimal(0))
    return {
        # lists, not objects: the canonical JSON sorts object keys, and the order of the classes is meaningful
        "income_categories": [[c, label] for c, label in INCOME_CATEGORIES.items()],
        "property_classes": [[c, label] for c, label in PROPERTY_CLASSES.items()],
        "persons": rows, "counted_persons": counted, "period_months": months,
        "household_income": {c: _money(totals_income.get(c, Decimal(0))) for c in INCOME_CATEGORIES},
        "household_income_total": _money(income_total),
        "household_property": {c: _money(totals_property.get(c, Decimal(0))) for c in PROPERTY_CLASSES},
        "household_assets_total": _money(assets),
        "household_debts_total": _money(totals_property.get("debts", Decimal(0))),
        "per_capita_income": _money(income_total / counted) if counted else None,
        "per_capita_monthly_income": _money(income_total / counted / months) if counted else None,
        "unanswered_sources": sorted({s["unit"] for s in sources if s["status"] in ("pending", "overdue")}),
    }
