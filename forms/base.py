"""The base schema every task form derives from: Chinese messages, unknown fields refused."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

#: default field messages, in Chinese, for every field class
FIELD_MESSAGES = {
    "required": "此项为必填项",
    "null": "此项不能为空",
    "invalid": "格式不正确",
    "validator_failed": "取值不正确",
}
TYPE_MESSAGES: dict[type[fields.Field[Any]], dict[str, str]] = {
    fields.String: {"invalid": "应为文本"},
    fields.Integer: {"invalid": "应为整数"},
    fields.Boolean: {"invalid": "应为是或否"},
    fields.Date: {"invalid": "应为日期（YYYY-MM-DD）"},
    fields.DateTime: {"invalid": "应为日期时间"},
    fields.List: {"invalid": "应为列表"},
    fields.Nested: {"type": "应为对象"},
}
#: the id of a stored row, as a select or a hidden input posts it: ids are 32-bit integer columns, so a tampered
#: value beyond them is a validation error, not an overflow in the query (SQLite cannot bind it at all)
MAX_ROW_ID = 2**31 - 1
ROW_ID = validate.Range(min=1, max=MAX_ROW_ID, error="所选对象不存在，请从列表中选择")


def whole_number(raw: str, *, least: int = 0, most: int = MAX_ROW_ID) -> int | None:
    """``raw`` as an integer in ``least``–``most`` if it is written in ASCII digits, else None.

    ``str.isdigit`` alone lets through 「²」 (which ``int`` refuses: a 500) and 「１」 (which it reads as 1),
    and any length (which the database cannot bind); the default bound is the largest row id.
    """
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(most)):
        return None
    value = int(raw)
    return value if least <= value <= most else None


class FormSchema(Schema):
    """Base of every ``forms/<form_key>.py`` schema.

    Class attributes: ``form_key`` (the BPMN ``formKey``), ``title`` (Chinese).
    Unknown fields are refused, not silently dropped: nothing a user typed is lost quietly.
    """

    form_key: str = ""
    title: str = ""
    #: the task's properties for context-dependent rules, set before each load (forms.validate)
    context_properties: dict[str, Any]

    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": "不允许的字段",
        "type": "提交的数据格式不正确",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            messages: dict[str, str | list[Any] | dict[Any, Any]] = dict(FIELD_MESSAGES)
            for cls, extra in TYPE_MESSAGES.items():
                if isinstance(field, cls):
                    messages.update(extra)
            # keep messages a field declared itself
            messages.update({k: v for k, v in field.error_messages.items() if not _is_default(v)})
            field.error_messages = messages


def _is_default(message: str | list[Any] | dict[Any, Any]) -> bool:
    """marshmallow's own default messages are English; ours are Chinese."""
    return isinstance(message, str) and message.isascii()
