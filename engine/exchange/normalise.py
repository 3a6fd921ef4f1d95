"""Normalise a unit's raw records into income categories and property classes, stored with the result.

The mapping itself is ``engine.exchange.registry.normalise`` (one place for field meanings);
this turns its items into JSON the results table keeps and the report and case page read:
``{"kind": "income"|"property", "class": "wage"|"deposits"|…, "label": "工资性收入"|"存款"|…,
"amount": "12345.67", "detail": …}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from engine.exchange.registry import normalise as _normalise


def normalise(category: str, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    items = _normalise(category, [r for r in records if isinstance(r, Mapping)])
    out = [{"kind": "income", "class": i.category, "label": i.label, "amount": str(i.annual_amount),
            "detail": i.source} for i in items.incomes]
    out += [{"kind": "property", "class": p.property_class, "label": p.label, "amount": str(p.value),
             "detail": p.description} for p in items.properties]
    return out
