"""The history's one-line account of a completed task speaks Chinese: form labels and choice names (AU-1)."""

from __future__ import annotations

import pytest

from forms.summary import describe


@pytest.mark.parametrize(("form_key", "data", "expected"), [
    ("intake_check", {"decision": "accept", "reason": None, "materials_complete": True,
                      "paper_electronic_consistent": True},
     "初审结论：受理，转审核复审；纸质委托材料规范、核对对象个人信息完整：是；纸质材料与电子数据包一致：是"),
    ("review", {"decision": "return", "reason": "材料不全"}, "审核结论：退回；理由：材料不全"),
    ("verification_review", {"decision": "accept", "upper_items": None, "cross_city_items": ["JLS-BDC"],
                             "cross_city_reason": "房产在吉林市"},
     "审核结论：通过；跨地市核对事项：JLS-BDC；跨地市核对理由：房产在吉林市"),
    # a form that no longer has the field, or no form at all: the key stays, the value is still readable
    ("review", {"gone": False}, "gone：否"),
    (None, {"remark": "x", "count": 2}, "remark：x；count：2"),
    ("review", {"reason": ""}, ""),
], ids=["intake_check", "review", "verification_review", "unknown_field", "no_form", "empty"])
def test_describe_uses_labels_and_choice_names(form_key: str | None, data: dict[str, object], expected: str) -> None:
    assert describe(form_key, data) == expected


def test_describe_shortens_long_data() -> None:
    assert describe(None, {f"k{i}": i for i in range(8)}, limit=2) == "k0：0；k1：1；…"
