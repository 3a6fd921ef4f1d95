"""Parameters of the 流程定义 pages and API: the two version numbers of a comparison."""

from __future__ import annotations

from collections.abc import Mapping

from engine.errors import ValidationError

_LABELS = {"from": "比较的起始版本", "to": "比较的目标版本"}


def load_compare(args: Mapping[str, str]) -> tuple[int, int]:
    """``from`` and ``to`` as positive version numbers.

    :raises ValidationError: with a Chinese message per missing or malformed parameter.
    """
    errors: dict[str, list[str]] = {}
    numbers: dict[str, int] = {}
    for name, label in _LABELS.items():
        raw = (args.get(name) or "").strip()
        if not raw:
            errors[name] = [f"请选择{label}"]
        elif not raw.isascii() or not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
            errors[name] = [f"{label}应为正整数版本号（如 1、2）"]
        else:
            numbers[name] = int(raw)
    if not errors and numbers["from"] == numbers["to"]:
        errors["to"] = ["请选择两个不同的版本进行比较"]
    if errors:
        raise ValidationError("比较条件有误：" + "；".join(m for ms in errors.values() for m in ms),
                              code="compare_invalid", fields=errors)
    return numbers["from"], numbers["to"]
