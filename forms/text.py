"""Control characters in submitted text: no field takes them, and PostgreSQL text cannot hold NUL at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: C0 control characters but tab, line feed and carriage return
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MESSAGE = "含有不允许的控制字符"
#: the same refusal on a page, where a person may have pasted one from another document without seeing it
FIELD_MESSAGE = "含有不可见的控制字符（可能是从其他文档复制带入的），请删除后重新提交"


def has_control(value: object) -> bool:
    """Whether ``value`` is a text holding a control character no field takes."""
    return isinstance(value, str) and CONTROL.search(value) is not None


def control_characters(value: Any, where: str = "") -> Iterator[str]:
    """Where in a JSON value (``a.b.0``; ``body`` for the value itself) a key or string holds a control character."""
    if has_control(value):
        yield where or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if CONTROL.search(str(key)):
                yield CONTROL.sub("?", name)
            else:
                yield from control_characters(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from control_characters(item, f"{where}.{index}" if where else str(index))
