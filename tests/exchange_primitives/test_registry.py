"""The synthetic registry of the simulated sharing units (DX-8): deterministic, consistent, normalisable."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from engine.exchange import registry as reg
from engine.exchange.categories import PROPERTY_CLASSES
from engine.exchange.normalise import Normalised
from engine.exchange.normalise import normalise_records as normalise
from engine.exchange.registry import Persona
from engine.exchange.registry import SyntheticRegistry
from engine.exchange.registry import UnitBehaviour
from engine.services.demo import UNITS
from forms.ids import check_char


def make_id(birth: date, serial: int) -> str:
    first17 = f"220104{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_char(first17)


PEOPLE = [make_id(date(1950 + i % 60, 1 + i % 12, 1 + i % 28), i) for i in range(600)]
ALL = list(reg.CATEGORIES)


def test_answers_are_deterministic_and_depend_on_the_seed() -> None:
    a = SyntheticRegistry().answer("CC-BANK", ALL, PEOPLE[0], "张三")
    assert a == SyntheticRegistry().answer("CC-BANK", ALL, PEOPLE[0], "张三")
    others = [SyntheticRegistry(seed=f"s{i}").answer("CC-BANK", ALL, PEOPLE[0], "张三") for i in range(5)]
    assert any(o != a for o in others)


def test_every_demo_category_is_known_and_answers_for_someone() -> None:
    registry = SyntheticRegistry()
    demo_categories = {c for *_, categories in UNITS for c in categories or []}
    assert demo_categories <= set(reg.CATEGORIES)
    for category in demo_categories:
        statuses = {registry.answer("X", [category], p, "张三")[0].status for p in PEOPLE[:300]}
        assert "has_data" in statuses, category


def test_the_population_is_varied() -> None:
    personas = [SyntheticRegistry().persona(p) for p in PEOPLE]
    for trait in ("car", "shares", "company", "rich_deposits", "employed", "pensioner", "assistance"):
        share = sum(bool(getattr(p, trait)) for p in personas) / len(personas)
        assert 0.02 < share < 0.9, trait
    assert {p.flats for p in personas} >= {0, 1, 2}


def test_answers_are_consistent_with_the_persona_across_units() -> None:
    registry = SyntheticRegistry()
    for id_number in PEOPLE[:200]:
        persona = registry.persona(id_number)
        answers = {a.category: a for a in registry.answer("CC-BDC", ["real_estate", "vehicles", "securities",
                                                                      "business_registration"], id_number, "李四")}
        assert len(answers["real_estate"].records) == persona.flats
        assert (answers["vehicles"].status == "has_data") == persona.car
        assert (answers["securities"].status == "has_data") == persona.shares
        if persona.company:
            assert any(r["entity_type"] == "有限责任公司" for r in answers["business_registration"].records)


def test_rich_persons_have_deposits_over_the_limit_and_poor_ones_do_not() -> None:
    rich = SyntheticRegistry().with_persona(PEOPLE[1], rich_deposits=True)
    poor = SyntheticRegistry().with_persona(PEOPLE[1], rich_deposits=False)

    def total(r: SyntheticRegistry) -> Decimal:
        (answer,) = r.answer("CC-BANK", ["deposits"], PEOPLE[1], "王五")
        return sum((Decimal(x["balance"]) for x in answer.records), Decimal(0))

    assert total(rich) >= Decimal("160000")
    assert total(poor) <= Decimal("30000")


def test_pinned_personas_and_labels() -> None:
    registry = SyntheticRegistry(personas={PEOPLE[2]: Persona(flats=2, car=True)})
    estate, car, deposits_of_unknown = registry.answer("CC-BDC", ["real_estate", "vehicles", "no_such"],
                                                       PEOPLE[2], "赵六")
    assert len(estate.records) == 2 and car.status_label == "有数据"
    assert deposits_of_unknown.status == "no_record" and deposits_of_unknown.status_label == "无记录"
    assert deposits_of_unknown.to_dict() == {"category": "no_such", "status": "no_record",
                                             "status_label": "无记录", "records": []}


def test_raw_fields_are_json_and_never_carry_the_id_number() -> None:
    registry = SyntheticRegistry()
    for id_number in PEOPLE[:100]:
        text = json.dumps([a.to_dict() for a in registry.answer("CC-ANY", ALL, id_number, "钱七")],
                          ensure_ascii=False)
        assert id_number not in text and id_number[-8:] not in text


def test_behaviours_are_deterministic_configurable_and_within_the_rules() -> None:
    registry = SyntheticRegistry()
    modes = {registry.behaviour(f"U-{i}").mode for i in range(200)}
    assert modes == {"immediate", "late", "delay_notice", "never"}
    assert registry.behaviour("U-1") == SyntheticRegistry().behaviour("U-1")
    for i in range(200):
        b = registry.behaviour(f"U-{i}")
        if b.mode == "immediate":
            assert b.answer_after == 0
        elif b.mode == "late":
            assert 1 <= b.answer_after <= 6  # within the 7 working days (DX-5)
        elif b.mode == "delay_notice":
            assert b.notice_after < 7 and 1 <= b.extension_days <= 5 and 7 < b.answer_after <= 7 + b.extension_days
        else:
            assert b.answer_after is None
    pinned = SyntheticRegistry(behaviours=reg.DEMO_BEHAVIOURS)
    assert {pinned.behaviour(code).mode for code in reg.DEMO_BEHAVIOURS} == {"immediate", "late", "delay_notice",
                                                                             "never"}
    assert pinned.behaviour("CC-BDC") == UnitBehaviour("late", answer_after=3)


def test_normalising_tax_records() -> None:
    records = [{"income_type": "工资薪金所得", "income": "48000.00"}, {"income_type": "经营所得", "income": "12000.50"},
               {"income_type": "财产租赁所得", "income": "9000"}, {"income_type": "偶然所得", "income": "100"},
               {"income_type": "工资薪金所得", "income": "not a number"}]
    items = [(i.category, i.annual_amount, i.label) for i in normalise("tax", records).incomes]
    assert items == [("wage", Decimal("48000.00"), "工资性收入"), ("business_net", Decimal("12000.50"), "经营净收入"),
                     ("property_net", Decimal("9000"), "财产净收入"), ("other", Decimal("100"), "其他收入")]


def test_normalising_incomes_to_annual_amounts() -> None:
    assert normalise("employment", [{"monthly_wage": "3000.50"}]).incomes[0].annual_amount == Decimal("36006.00")
    pension = normalise("pensions", [{"monthly_amount": "1200"}]).incomes[0]
    assert (pension.category, pension.annual_amount) == ("transfer_net", Decimal("14400.00"))
    assert normalise("sole_proprietors", [{"net_income": "20000"}]).incomes[0].category == "business_net"


def test_normalising_properties() -> None:
    flats = normalise("real_estate", [{"assessed_value": "800000", "share": "0.5", "location": "长春市朝阳区某小区",
                                       "annual_rent": "12000"}])
    assert [(p.property_class, p.value, p.label, p.description) for p in flats.properties] == [
        ("real_estate", Decimal("400000.00"), "不动产", "长春市朝阳区某小区")]
    assert flats.incomes[0].category == "property_net"
    deposit = normalise("deposits", [{"balance": "1000.00", "interest_12m": "3.50", "account_masked": "6222****1"}])
    assert (deposit.properties[0].label, deposit.properties[0].value) == ("存款", Decimal("1000.00"))
    assert normalise("loans", [{"outstanding": "5000"}]).properties[0].property_class == "debts"
    company = normalise("business_registration", [{"registered_capital": "500000", "share_ratio": "0.3",
                                                   "entity_name": "某公司"}])
    assert (company.properties[0].label, company.properties[0].value) == ("市场主体", Decimal("150000.00"))
    assert normalise("marriage", [{"status": "已婚"}]) == Normalised()


@pytest.mark.parametrize("category", ALL)
def test_every_generated_record_normalises_without_error(category: str) -> None:
    registry = SyntheticRegistry()
    for id_number in PEOPLE[:60]:
        (answer,) = registry.answer("CC-X", [category], id_number, "孙八")
        result = normalise(category, answer.records)
        assert all(i.annual_amount >= 0 for i in result.incomes)
        assert all(p.value >= 0 for p in result.properties)
        assert {p.property_class for p in result.properties} <= set(PROPERTY_CLASSES)


def test_normalising_tolerates_what_a_real_unit_may_send() -> None:
    hostile = [{"balance": v} for v in ("NaN", "Infinity", "-inf", "1e999999", True, None, [], {}, "一万", "")]
    assert normalise("deposits", hostile) == Normalised()
    friendly = normalise("real_estate", [{"assessed_value": "1,200,000.00", "share": "50%"},
                                         {"assessed_value": 300000, "share": 1}])
    assert [p.value for p in friendly.properties] == [Decimal("600000.00"), Decimal("300000.00")]
    loss = normalise("sole_proprietors", [{"net_income": "-3000"}]).incomes[0]
    assert (loss.category, loss.annual_amount) == ("business_net", Decimal("-3000.00"))  # a net income may be < 0
