"""The calendar and policy forms: typed text in, a value for engine.calendar / engine.policy out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import fields
from marshmallow import validate

from engine.errors import ValidationError
from engine.policy import WINDOW_KINDS
from engine.policy import Setting
from forms.base import whole_number
from web.admin_extra.queries import KIND_NAMES
from web.home.schemas import HtmlFormSchema
from web.home.schemas import text


class CalendarDaySchema(HtmlFormSchema):
    kind = fields.String(required=True, validate=validate.OneOf(list(KIND_NAMES), error="请选择日期类型"))
    name = text(100, required=False)


def _problem(key: str, message: str) -> ValidationError:
    return ValidationError(message, fields={key: [message]})


def policy_value(setting: Setting, form: Mapping[str, Any]) -> Any:
    """The posted value of one policy setting (range checks are ``engine.policy.validate_value``'s)."""
    if setting.kind == "windows":
        return _windows(setting, form)
    raw = str(form.get("value", "")).strip()
    if raw == "":
        if setting.nullable:
            return None
        raise _problem(setting.key, "此项不能为空")
    if setting.kind == "choice":
        if raw not in setting.choices:
            raise _problem(setting.key, "请从列表中选择")
        return raw
    number = whole_number(raw)
    if number is None:
        raise _problem(setting.key, f"须为整数（{setting.unit}）")
    return number


def _windows(setting: Setting, form: Mapping[str, Any]) -> dict[str, list[int]] | None:
    """Every window with both days filled in; all empty means "no monthly windows" (where allowed)."""
    out: dict[str, list[int]] = {}
    for kind, name in WINDOW_KINDS.items():
        first, last = (str(form.get(f"{kind}-{end}", "")).strip() for end in ("from", "to"))
        if not first and not last:
            continue
        days = [whole_number(first, most=99), whole_number(last, most=99)]
        if None in days:
            raise _problem(setting.key, f"「{name}」的起始日和截止日须同时填写为 1–31 的整数")
        out[kind] = [d for d in days if d is not None]
    if not out:
        if setting.nullable:
            return None
        raise _problem(setting.key, "请至少填写一个时段")
    return out
