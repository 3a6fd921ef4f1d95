"""支出调查 (DO-9; BJ 第十四条): what the verification agency records when a household's spending
clearly exceeds the income it declared — why it looks, what spending it found, what it concluded.

Pure validation; the service decides who may write and when. The finding states facts for the
entrusting department (PR-3: no eligibility verdict).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

CATEGORIES = {
    "housing": "购建房屋",
    "vehicle": "购买机动车",
    "travel": "出国（境）旅游",
    "education": "自费择校、出国留学",
    "luxury": "高档消费（娱乐、奢侈品等）",
    "investment": "投资经营",
    "other": "其他支出",
}
SOURCES = {
    "data_match": "信息比对",
    "home_visit": "入户调查",
    "tip_off": "举报投诉",
    "statement": "本人说明",
    "other": "其他",
}
OUTCOMES = {
    "explained": "支出已作出合理说明",
    "unexplained": "支出与申报收入明显不符，未能合理说明",
    "inconclusive": "无法查明",
}
MAX_AMOUNT = Decimal("9999999999.99")


def _strip(data: dict[str, Any], *names: str) -> None:
    for name in names:
        if isinstance(data.get(name), str):
            data[name] = data[name].strip() or None


def _cents(value: Decimal) -> None:
    """Amounts are in 元 with at most 2 decimals; more is refused, never rounded away silently."""
    if abs(value) <= MAX_AMOUNT and value != value.quantize(Decimal("0.01")):  # the range check names the rest
        raise ValidationError("金额最多保留两位小数")


def _choice(label: str, choices: dict[str, str], missing: str) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(list(choices), error=missing),
                         metadata={"label": label, "choices": choices}, error_messages={"required": missing})


def _require_text(data: dict[str, Any], name: str, missing: str) -> None:
    """Strip ``name``; blank after stripping is missing (marshmallow's ``required`` accepts spaces)."""
    _strip(data, name)
    if not data.get(name):
        raise ValidationError(missing, name)


def _money(label: str, *, required: bool, minimum: Decimal) -> fields.Decimal:
    extra: dict[str, Any] = {"required": True} if required else {"load_default": None}
    return fields.Decimal(
        as_string=False, **extra,
        validate=[validate.Range(min=minimum, max=MAX_AMOUNT, error=f"请填写 {minimum} 至 {MAX_AMOUNT} 之间的金额"),
                  _cents],
        metadata={"label": label}, error_messages={"required": f"请填写{label}", "invalid": "请填写数字金额（元）",
                        "special": "请填写数字金额（元）"})


@register
class SpendingInquiryForm(FormSchema):
    form_key = "spending_inquiry"
    title = "启动支出调查"

    basis = fields.String(required=True, validate=validate.Length(max=1000, error="不超过 1000 字"),
                          metadata={"label": "调查缘由", "help": "哪些支出与申报的收入明显不符"},
                          error_messages={"required": "请填写调查缘由"})
    declared_monthly_income = _money("申报家庭月收入（元）", required=False, minimum=Decimal(0))

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        _require_text(data, "basis", "请填写调查缘由")


@register
class SpendingItemForm(FormSchema):
    form_key = "spending_item"
    title = "登记支出"

    category = _choice("支出类别", CATEGORIES, "请选择支出类别")
    description = fields.String(required=True, validate=validate.Length(max=500, error="不超过 500 字"),
                                metadata={"label": "支出情况", "help": "支出的内容、对象、依据"},
                                error_messages={"required": "请填写支出情况"})
    amount = _money("金额（元）", required=True, minimum=Decimal("0.01"))
    spent_on = fields.Date(load_default=None, metadata={"label": "支出日期"},
                           error_messages={"invalid": "请按 年-月-日 填写日期"})
    source = _choice("信息来源", SOURCES, "请选择信息来源")

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        _require_text(data, "description", "请填写支出情况")


@register
class SpendingConclusionForm(FormSchema):
    form_key = "spending_conclusion"
    title = "支出调查结论"

    outcome = _choice("调查结论", OUTCOMES, "请选择调查结论")
    conclusion = fields.String(required=True, validate=validate.Length(max=2000, error="不超过 2000 字"),
                               metadata={"label": "调查情况说明", "help": "查实的情况、当事人的说明及依据"},
                               error_messages={"required": "请填写调查情况说明"})

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        _require_text(data, "conclusion", "请填写调查情况说明")
