"""Normalise a unit's raw records into income categories and property classes (one place for field meanings).

:func:`normalise_records` maps each category's raw fields to :class:`IncomeItem` (annual amounts,
:data:`~engine.exchange.categories.INCOME_CATEGORIES`) and :class:`PropertyItem` (values,
:data:`~engine.exchange.categories.PROPERTY_CLASSES`). Items are per source record; de-duplicating
the same income reported by two sources (e.g. tax and employment) is the report's decision.
:func:`normalise` turns them into the JSON the results table keeps and the report and case page read:
``{"kind": "income"|"property", "class": "wage"|"deposits"|…, "label": "工资性收入"|"存款"|…,
"amount": "12345.67", "detail": …}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

from engine.exchange.categories import CATEGORIES
from engine.exchange.categories import INCOME_CATEGORIES
from engine.exchange.categories import PROPERTY_CLASSES


@dataclass(frozen=True)
class IncomeItem:
    category: str  # a key of INCOME_CATEGORIES
    annual_amount: Decimal
    source: str  # the raw field it came from

    @property
    def label(self) -> str:
        return INCOME_CATEGORIES[self.category]


@dataclass(frozen=True)
class PropertyItem:
    property_class: str  # a key of PROPERTY_CLASSES
    value: Decimal
    description: str

    @property
    def label(self) -> str:
        return PROPERTY_CLASSES[self.property_class]


@dataclass
class Normalised:
    incomes: list[IncomeItem] = field(default_factory=list)
    properties: list[PropertyItem] = field(default_factory=list)


_TAX_INCOME = {"工资薪金所得": "wage", "劳务报酬所得": "wage", "经营所得": "business_net",
               "财产租赁所得": "property_net", "利息股息红利所得": "property_net", "偶然所得": "other"}
#: category -> [(raw field, income category, factor to annual)]
_INCOME_FIELDS: dict[str, list[tuple[str, str, int]]] = {
    "deposits": [("interest_12m", "property_net", 1)], "wealth_products": [("income_12m", "property_net", 1)],
    "securities": [("dividends_12m", "property_net", 1)], "shareholdings": [("dividends_12m", "property_net", 1)],
    "real_estate": [("annual_rent", "property_net", 1)], "employment": [("monthly_wage", "wage", 12)],
    "state_payroll": [("annual_salary", "wage", 1)], "sole_proprietors": [("net_income", "business_net", 1)],
    "pensions": [("monthly_amount", "transfer_net", 12)],
    "assistance_records": [("monthly_amount", "transfer_net", 12)],
    "agricultural_subsidies": [("annual_amount", "transfer_net", 1)],
    "veterans": [("monthly_allowance", "transfer_net", 12)], "family_planning": [("annual_amount", "transfer_net", 1)],
}
#: category -> (value field, property class, share field or None)
_PROPERTY_FIELDS: dict[str, tuple[str, str, str | None]] = {
    "deposits": ("balance", "deposits", None), "securities": ("market_value", "securities", None),
    "wealth_products": ("holding_value", "wealth_products", None),
    "commercial_insurance": ("cash_value", "commercial_insurance", None),
    "vehicles": ("estimated_value", "vehicles", None), "ships": ("estimated_value", "other_assets", None),
    "real_estate": ("assessed_value", "real_estate", "share"), "housing_fund": ("balance", "housing_fund", None),
    "business_registration": ("registered_capital", "market_entities", "share_ratio"),
    "shareholdings": ("subscribed_capital", "market_entities", None), "loans": ("outstanding", "debts", None),
    "forestry_loans": ("outstanding", "debts", None),
}
_DESCRIPTION_FIELDS = ("entity_name", "location", "account_masked", "plate_masked", "product_name", "policy_type",
                       "loan_type", "account_status")


def _amount(value: Any) -> Decimal | None:
    """A finite amount from a unit's field ("1,234.50", 1234.5, "50%"); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        return None
    text = str(value).strip().replace(",", "")
    try:
        amount = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except (ArithmeticError, ValueError):
        return None
    return amount if amount.is_finite() and abs(amount) < Decimal("1e15") else None


def normalise_records(category: str, records: Iterable[Mapping[str, Any]]) -> Normalised:
    """Income items (annual) and property items of one category's raw records; unknown fields are ignored."""
    out = Normalised()
    for record in records:
        if category == "tax":
            kind = _TAX_INCOME.get(str(record.get("income_type")), "other")
            amount = _amount(record.get("income"))
            if amount:
                out.incomes.append(IncomeItem(kind, amount, "income"))
        for raw, kind, factor in _INCOME_FIELDS.get(category, []):
            amount = _amount(record.get(raw))
            if amount:
                out.incomes.append(IncomeItem(kind, (amount * factor).quantize(Decimal("0.01")), raw))
        if category in _PROPERTY_FIELDS:
            raw, kind, share_field = _PROPERTY_FIELDS[category]
            value = _amount(record.get(raw))
            share = _amount(record.get(share_field)) if share_field else Decimal(1)
            if value is not None and share is not None:
                label = next((str(record[f]) for f in _DESCRIPTION_FIELDS if record.get(f)), CATEGORIES[category][0])
                out.properties.append(PropertyItem(kind, (value * share).quantize(Decimal("0.01")), label))
    return out


def normalise(category: str, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`normalise_records` as the JSON items stored with a result (non-dict records are skipped)."""
    items = normalise_records(category, [r for r in records if isinstance(r, Mapping)])
    out = [{"kind": "income", "class": i.category, "label": i.label, "amount": str(i.annual_amount),
            "detail": i.source} for i in items.incomes]
    out += [{"kind": "property", "class": p.property_class, "label": p.label, "amount": str(p.value),
             "detail": p.description} for p in items.properties]
    return out
