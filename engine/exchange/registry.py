"""The deterministic synthetic registry behind the simulated sharing units (demo and tests, DX-8).

Why: every exchange path (answers with data, no record, late answers, delay notices, units that
never answer) must be exercised with realistic data, without real people and reproducibly. All
values derive from SHA-256 of (seed, unit, ID number, category), so a test can predict them, and
a person's traits (owns flats, a car, shares, a company, deposits over the limit...) derive from
(seed, ID number) alone, so the bank and the land registry tell a consistent story.

API contract (stable; the simulator service and tests code against it)::

    registry = SyntheticRegistry(seed="hedui-sim-1", personas={...}, behaviours={...})
    registry.persona(id_number) -> Persona                 # traits; override per ID number
    registry.answer(unit_code, categories, id_number, name) -> list[CategoryAnswer]
    answer.category, answer.status ("has_data" | "no_record"), answer.status_label ("有数据" | "无记录"),
    answer.records (tuple of raw-field dicts, JSON-safe: money as "12345.67" strings), answer.to_dict()
    registry.behaviour(unit_code) -> UnitBehaviour          # immediate | late | delay_notice | never
    registry.officer(unit_code) -> str                     # the unit-side officer who releases answers (SD-3)
    engine.exchange.normalise.normalise_records(category, records) -> Normalised(incomes=[...], properties=[...])

- :data:`engine.exchange.categories.CATEGORIES`: the DX-8 category codes with Chinese labels and the
  providing department (the demo units' codes in ``engine/services/demo.py`` are among them). Unknown codes answer
  ``no_record``.
- :class:`UnitBehaviour`: ``answer_after`` (working days after receipt, 0 = at once; None = never),
  ``notice_after`` and ``extension_days`` for a written delay notice (at most 5, DX-5/PS-10).
  Deterministic from the unit code unless configured in ``behaviours``; :data:`DEMO_BEHAVIOURS`
  is a mix for the demo units. Converting working days to dates is the caller's (calendar).
- The categories and the classes answers normalise into are in ``engine.exchange.categories``;
  the mapping of raw fields (what the units answer) is ``engine.exchange.normalise``.
- No logging, and ID numbers never appear in the raw fields (accounts and plates are masked).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from decimal import Decimal
from typing import Any

from engine.exchange.categories import CATEGORIES as CATEGORIES  # re-exported: callers read it here
from engine.exchange.categories import STATUS_LABELS


@dataclass(frozen=True)
class Persona:
    """A synthetic person's traits; every unit's answer is consistent with them."""

    flats: int = 0
    car: bool = False
    shares: bool = False
    company: bool = False
    rich_deposits: bool = False
    employed: bool = False
    public_sector: bool = False
    sole_proprietor: bool = False
    pensioner: bool = False
    assistance: bool = False
    disabled: bool = False
    married: bool = False
    student: bool = False
    farmer: bool = False


@dataclass(frozen=True)
class UnitBehaviour:
    """How a simulated unit answers: ``answer_after`` working days (None: never)."""

    mode: str  # immediate | late | delay_notice | never
    answer_after: int | None = 0
    notice_after: int | None = None
    extension_days: int | None = None


DEMO_BEHAVIOURS: dict[str, UnitBehaviour] = {
    "CC-GA": UnitBehaviour("immediate"), "CC-BANK": UnitBehaviour("immediate"),
    "CC-SCJG": UnitBehaviour("immediate"), "CC-BDC": UnitBehaviour("late", answer_after=3),
    "CC-SW": UnitBehaviour("delay_notice", answer_after=9, notice_after=5, extension_days=3),
    "CC-GJJ": UnitBehaviour("never", answer_after=None),
}

#: the unit-side exchange officer (备案, SD-3) who releases each demo unit's answers: username, display name
DEMO_UNIT_OFFICERS: dict[str, tuple[str, str]] = {
    "CC-GA": ("cc_ga_officer", "刘警（长春市公安局）"), "CC-BDC": ("cc_bdc_officer", "秦岚（长春市不动产登记中心）"),
    "CC-GJJ": ("cc_gjj_officer", "袁明（长春市住房公积金管理中心）"),
    "CC-SW": ("cc_sw_officer", "蒋税（国家税务总局长春市税务局）"),
    "CC-SCJG": ("cc_scjg_officer", "潘正（长春市市场监督管理局）"),
    "CC-BANK": ("cc_bank_officer", "高远（长春示范商业银行）"),
    "CY-CLH": ("cy_clh_officer", "白雪（朝阳区残疾人联合会）"),
    "JL-SBJ": ("jl_sbj_officer", "石磊（吉林省社会保险事业管理局）"),
    "JLS-BDC": ("jls_bdc_officer", "罗兰（吉林市不动产登记中心）"),
}


def unit_officer_name(unit_code: str) -> str:
    """The username a simulated unit names as its releasing officer (demo units: as filed above)."""
    if unit_code in DEMO_UNIT_OFFICERS:
        return DEMO_UNIT_OFFICERS[unit_code][0]
    return unit_code.lower().replace("-", "_") + "_officer"


@dataclass(frozen=True)
class CategoryAnswer:
    category: str
    status: str
    records: tuple[dict[str, Any], ...] = ()

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "status": self.status, "status_label": self.status_label,
                "records": [dict(r) for r in self.records]}



def _rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))  # noqa: S311 - synthetic data, not security


def _money(rnd: random.Random, low: float, high: float) -> str:
    return f"{Decimal(rnd.uniform(low, high)).quantize(Decimal('0.01'))}"


def _date(rnd: random.Random, first_year: int, last_year: int) -> str:
    return f"{rnd.randint(first_year, last_year)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"


def _birth_year(id_number: str) -> int | None:
    year = id_number[6:10]
    return int(year) if len(id_number) == 18 and year.isdigit() else None


class SyntheticRegistry:
    """Answers for simulated units; ``personas`` and ``behaviours`` pin values for tests and demos."""

    def __init__(self, seed: str = "hedui-sim-1", *, personas: Mapping[str, Persona] | None = None,
                 behaviours: Mapping[str, UnitBehaviour] | None = None) -> None:
        self.seed = seed
        self._personas = dict(personas or {})
        self._behaviours = dict(behaviours or {})

    def persona(self, id_number: str) -> Persona:
        if id_number in self._personas:
            return self._personas[id_number]
        rnd = _rng(self.seed, "persona", id_number)
        born = _birth_year(id_number)
        old = born is not None and born <= 1965
        young = born is not None and born >= 2004
        flats = rnd.choices([0, 1, 2, 3], weights=[45, 43, 9, 3])[0]
        employed = not old and not young and rnd.random() < 0.45
        return Persona(
            flats=flats, car=rnd.random() < 0.2, shares=rnd.random() < 0.1, company=rnd.random() < 0.08,
            rich_deposits=rnd.random() < 0.12, employed=employed, public_sector=employed and rnd.random() < 0.2,
            sole_proprietor=not employed and not young and rnd.random() < 0.1,
            pensioner=old and rnd.random() < 0.8, assistance=rnd.random() < 0.3, disabled=rnd.random() < 0.08,
            married=not young and rnd.random() < 0.65, student=young and rnd.random() < 0.7,
            farmer=rnd.random() < 0.15)

    def behaviour(self, unit_code: str) -> UnitBehaviour:
        if unit_code in self._behaviours:
            return self._behaviours[unit_code]
        rnd = _rng(self.seed, "behaviour", unit_code)
        mode = rnd.choices(["immediate", "late", "delay_notice", "never"], weights=[60, 20, 12, 8])[0]
        if mode == "immediate":
            return UnitBehaviour(mode)
        if mode == "late":
            return UnitBehaviour(mode, answer_after=rnd.randint(1, 6))
        if mode == "delay_notice":
            extension = rnd.randint(1, 5)
            return UnitBehaviour(mode, answer_after=7 + rnd.randint(1, extension), notice_after=rnd.randint(3, 6),
                                 extension_days=extension)
        return UnitBehaviour(mode, answer_after=None)

    def answer(self, unit_code: str, categories: Iterable[str], id_number: str, name: str) -> list[CategoryAnswer]:
        persona = self.persona(id_number)
        out = []
        for category in categories:
            make = _GENERATORS.get(category)
            rnd = _rng(self.seed, unit_code, id_number, category)
            records = make(persona, rnd, name) if make else []
            out.append(CategoryAnswer(category, "has_data" if records else "no_record", tuple(records)))
        return out

    def with_persona(self, id_number: str, **traits: Any) -> SyntheticRegistry:
        """A copy with one person's traits changed (tests: "this person owns two flats")."""
        personas = {**self._personas, id_number: replace(self.persona(id_number), **traits)}
        return SyntheticRegistry(self.seed, personas=personas, behaviours=self._behaviours)

    def officer(self, unit_code: str) -> str:
        """Who releases the unit's answers (``officer`` in results, delay notices and packages; SD-3)."""
        return unit_officer_name(unit_code)


# --- raw records per category: (persona, rnd, name) -> list of dicts (empty: no record) ---------------------

Record = dict[str, Any]


def _mask(rnd: random.Random, prefix: str) -> str:
    return f"{prefix}****{rnd.randint(1000, 9999)}"


def _cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _deposits(p: Persona, rnd: random.Random, name: str) -> list[Record]:
    n = rnd.randint(2, 4) if p.rich_deposits else rnd.choices([0, 1, 2], weights=[15, 60, 25])[0]
    low, high = (80000, 400000) if p.rich_deposits else (0, 15000)
    out = []
    for _ in range(n):
        kind = rnd.choice(["活期", "定期"])
        balance = Decimal(_money(rnd, low, high))
        rate = Decimal("0.0035") if kind == "活期" else Decimal("0.0165")
        out.append({"account_masked": _mask(rnd, "6222"), "account_type": kind, "currency": "CNY",
                    "balance": str(balance), "interest_12m": _cents(balance * rate)})
    return out


def _loans(p: Persona, rnd: random.Random, name: str) -> list[Record]:
    if not (p.flats and rnd.random() < 0.5) and not (p.car and rnd.random() < 0.3):
        return []
    principal = Decimal(_money(rnd, 50000, 600000))
    return [{"loan_type": "个人住房贷款" if p.flats else "个人汽车消费贷款", "principal": str(principal),
             "outstanding": _cents(principal * Decimal(rnd.uniform(0.2, 0.9))),
             "monthly_payment": _money(rnd, 800, 4500), "start_date": _date(rnd, 2012, 2024)}]


def _wealth_products(p: Persona, rnd: random.Random, name: str) -> list[Record]:
    if not (p.rich_deposits or p.shares):
        return []
    value = Decimal(_money(rnd, 20000, 300000))
    return [{"product_name": f"稳健理财{rnd.randint(1, 9)}号", "holding_value": str(value),
             "income_12m": _cents(value * Decimal("0.028"))}]


def _vehicles(p: Persona, rnd: random.Random, name: str) -> list[Record]:
    if not p.car:
        return []
    price, year = Decimal(_money(rnd, 45000, 260000)), rnd.randint(2012, 2024)
    return [{"plate_masked": f"吉A·***{rnd.randint(10, 99)}", "vehicle_type": "小型轿车",
             "brand": rnd.choice(["一汽大众", "红旗", "丰田", "比亚迪"]), "registered_on": f"{year}-06-15",
             "purchase_price": str(price),
             "estimated_value": _cents(price * Decimal(max(0.15, 1 - 0.1 * (2026 - year))))}]


def _real_estate(p: Persona, rnd: random.Random, name: str) -> list[Record]:
    out = []
    for i in range(p.flats):
        area = Decimal(rnd.uniform(38, 140)).quantize(Decimal("0.01"))
        rented = i > 0 and rnd.random() < 0.6
        out.append({
            "certificate_no": f"吉({rnd.randint(2010, 2024)})长春市不动产权第{rnd.randint(1, 999999):07d}号",
            "location": f"长春市{rnd.choice(['朝阳区', '南关区', '绿园区'])}某小区{rnd.randint(1, 30)}栋",
            "usage": "住宅", "area_m2": str(area), "share": rnd.choice(["1", "1", "0.5"]) if p.married else "1",
            "assessed_value": _cents(area * rnd.randint(6500, 13000)),
            "annual_rent": _money(rnd, 9000, 24000) if rented else "0.00"})
    return out


def _business_registration(p: Persona, rnd: random.Random, name: str) -> list[Record]:
    out = []
    if p.company:
        out.append({"entity_name": f"长春{name[:1]}氏商贸有限公司", "entity_type": "有限责任公司",
                    "role": "法定代表人", "registered_capital": _money(rnd, 100000, 2000000),
                    "share_ratio": rnd.choice(["1", "0.6", "0.3"]), "status": "存续",
                    "established_on": _date(rnd, 2008, 2024)})
    if p.sole_proprietor:
        out.append({"entity_name": f"朝阳区{name[:1]}记便民超市", "entity_type": "个体工商户", "role": "经营者",
                    "registered_capital": _money(rnd, 10000, 80000), "share_ratio": "1", "status": "存续",
                    "established_on": _date(rnd, 2012, 2025)})
    return out


def _tax(p: Persona, rnd: random.Random, name: str) -> list[Record]:
    incomes = [("工资薪金所得", p.employed, 36000, 150000), ("经营所得", p.company or p.sole_proprietor, 20000, 200000),
               ("财产租赁所得", p.flats > 1 and rnd.random() < 0.5, 8000, 30000),
               ("利息股息红利所得", p.shares and rnd.random() < 0.5, 500, 20000)]
    out = []
    for income_type, applies, low, high in incomes:
        if applies:
            income = Decimal(_money(rnd, low, high))
            out.append({"year": 2025, "income_type": income_type, "income": str(income),
                        "tax_paid": _cents(income * Decimal("0.03"))})
    return out


def _when(test: Any, factory: Any) -> Any:
    """One record from ``factory(rnd, name)`` when ``test(persona, rnd)`` holds: a trait, or a chance."""
    def make(p: Persona, rnd: random.Random, name: str) -> list[Record]:
        return [factory(rnd, name)] if test(p, rnd) else []
    return make


def _trait(trait: str, factory: Any) -> Any:
    return _when(lambda p, rnd: getattr(p, trait), factory)


def _chance(probability: float, factory: Any) -> Any:
    return _when(lambda p, rnd: rnd.random() < probability, factory)


_GENERATORS = {
    "deposits": _deposits, "loans": _loans, "wealth_products": _wealth_products, "vehicles": _vehicles,
    "real_estate": _real_estate, "business_registration": _business_registration, "tax": _tax,
    "securities": _trait("shares", lambda r, n: {"account_masked": _mask(r, "A"),
                                                 "market_value": _money(r, 5000, 250000),
                                                 "dividends_12m": _money(r, 0, 3000)}),
    "commercial_insurance": _when(lambda p, r: (p.rich_deposits or p.employed) and r.random() < 0.5,
                                  lambda r, n: {"policy_type": r.choice(["终身寿险", "年金保险", "两全保险"]),
                                                "annual_premium": _money(r, 1000, 12000),
                                                "cash_value": _money(r, 2000, 90000), "policy_masked": _mask(r, "P")}),
    "housing_fund": _trait("employed", lambda r, n: {"account_status": "正常缴存", "balance": _money(r, 3000, 120000),
                                                     "monthly_deposit": _money(r, 300, 2400)}),
    "housing_transactions": _when(lambda p, r: p.flats and r.random() < 0.4,
                                  lambda r, n: {"transaction": r.choice(["商品房买卖", "二手房买卖"]),
                                                "contract_date": _date(r, 2010, 2025),
                                                "price": _money(r, 300000, 1500000)}),
    "shareholdings": _trait("company", lambda r, n: {"entity_name": f"长春{n[:1]}氏商贸有限公司",
                                                     "share_ratio": r.choice(["1", "0.6", "0.3"]),
                                                     "subscribed_capital": _money(r, 30000, 1200000),
                                                     "dividends_12m": _money(r, 0, 60000)}),
    "sole_proprietors": _trait("sole_proprietor", lambda r, n: {"business_name": f"朝阳区{n[:1]}记便民超市",
                                                                "annual_turnover": _money(r, 80000, 400000),
                                                                "net_income": _money(r, 12000, 60000),
                                                                "tax_paid": _money(r, 0, 2000), "year": 2025}),
    "employment": _trait("employed", lambda r, n: {"employer": f"长春市某某{r.choice(['物流', '食品'])}有限公司",
                                                   "status": "在职", "start_date": _date(r, 2010, 2024),
                                                   "monthly_wage": _money(r, 2200, 9000)}),
    "state_payroll": _trait("public_sector", lambda r, n: {"employer": "长春市某事业单位",
                                                           "annual_salary": _money(r, 60000, 140000)}),
    "civil_service": _trait("public_sector", lambda r, n: {"employer": "长春市某事业单位", "post_type": "事业编制"}),
    "pensions": _trait("pensioner", lambda r, n: {"pension_type": r.choice(["城镇职工基本养老保险",
                                                                            "城乡居民基本养老保险"]),
                                                  "monthly_amount": _money(r, 150, 3800)}),
    "social_insurance": _trait("employed", lambda r, n: {"insurance_type": "职工基本养老保险", "status": "参保缴费",
                                                         "contribution_base": _money(r, 3500, 9000)}),
    "assistance_records": _trait("assistance", lambda r, n: {"assistance_type": "最低生活保障",
                                                             "since": _date(r, 2015, 2025),
                                                             "monthly_amount": _money(r, 300, 800)}),
    "marriage": _trait("married", lambda r, n: {"status": "已婚", "registered_on": _date(r, 1985, 2023)}),
    "disability": _trait("disabled", lambda r, n: {"disability_type": r.choice(["肢体", "视力", "听力", "智力"]),
                                                   "grade": r.choice(["一级", "二级", "三级", "四级"])}),
    "education": _trait("student", lambda r, n: {"school": "长春市某中学", "status": "在读",
                                                 "level": r.choice(["高中", "初中", "大学"])}),
    "agricultural_subsidies": _trait("farmer", lambda r, n: {"subsidy_type": "耕地地力保护补贴",
                                                             "annual_amount": _money(r, 300, 2500)}),
    "exit_entry": _chance(0.08, lambda r, n: {"trips_12m": r.randint(1, 4), "last_exit_on": _date(r, 2025, 2025)}),
    "veterans": _chance(0.03, lambda r, n: {"category": "退役军人", "monthly_allowance": _money(r, 300, 1500)}),
    "family_planning": _chance(0.05, lambda r, n: {"status": "独生子女父母奖励",
                                                   "annual_amount": _money(r, 960, 1920)}),
    "transport_licences": _chance(0.03, lambda r, n: {"licence": "道路运输从业资格证", "status": "有效"}),
    "ships": _chance(0.01, lambda r, n: {"ship_type": "渔船", "estimated_value": _money(r, 20000, 150000)}),
    "forestry_loans": _chance(0.01, lambda r, n: {"loan_type": "林权抵押贷款", "outstanding": _money(r, 10000, 90000)}),
    "household_registration": _chance(1.0, lambda r, n: {"household_type": r.choice(["城镇", "农村"]),
                                                         "relationship": "户主", "address": "长春市朝阳区红旗街道"}),
    "medical_insurance": lambda p, r, n: [{"scheme": "职工基本医疗保险" if p.employed else "城乡居民基本医疗保险",
                                           "status": "参保"}],
}
