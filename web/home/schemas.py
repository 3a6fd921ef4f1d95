"""Loading HTML form posts with marshmallow; the sign-in form.

HTML forms post every input, empty or not, as text. :class:`HtmlFormSchema` trims the text
and treats an empty input as not given, so "required" and "optional" mean what a person
filling the form expects. Errors come back as the engine's ``ValidationError`` with
``details['fields']``, the same shape the services use, so a view shows both alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate

from engine.errors import HeduiError
from engine.errors import ValidationError
from forms.base import FormSchema
from forms.text import FIELD_MESSAGE as CONTROL_MESSAGE
from forms.text import has_control
from web.login import CSRF_KEY


class HtmlFormSchema(FormSchema):
    """Base of the browser forms: trimmed text, empty inputs are missing, Chinese messages; a text with a
    control character (C0 but tab, line feed, carriage return: what the API refuses too) is refused at its
    field, so the form comes back with the rest of what was typed."""

    #: fields whose text is kept exactly as typed (passwords may start or end with a space)
    untrimmed: tuple[str, ...] = ()

    @pre_load
    def _drop_empty(self, data: Mapping[str, Any], **_kwargs: Any) -> dict[str, Any]:
        cleaned = {}
        for name, value in data.items():
            if isinstance(value, str) and name not in self.untrimmed:
                value = value.strip()
            if value != "":
                cleaned[name] = value
        if controlled := sorted(name for name, value in cleaned.items() if has_control(value)):
            raise MarshmallowError({name: [CONTROL_MESSAGE] for name in controlled})
        return cleaned


def load_form(schema: HtmlFormSchema, form: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a posted form (without its CSRF token) into plain values.

    :raises ValidationError: with ``details['fields']`` mapping field names to Chinese messages.
    """
    payload = {name: value for name, value in form.items() if name != CSRF_KEY}
    try:
        return dict(schema.load(payload))
    except MarshmallowError as exc:
        raise ValidationError(fields=exc.messages) from exc


def field_errors(exc: HeduiError) -> dict[str, list[str]]:
    """``{field: [message, ...]}`` from a form or service validation error (another domain error has none)."""
    raw = exc.details.get("fields") or {}
    return {str(name): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])] for name, msgs in raw.items()}


def text(max_length: int, *, required: bool = True, **kwargs: Any) -> fields.String:
    """A text field of at most ``max_length`` characters (the column's size)."""
    length = validate.Length(max=max_length, error=f"不能超过 {max_length} 个字符")
    if required:
        return fields.String(required=True, validate=length, **kwargs)
    return fields.String(load_default=None, validate=length, **kwargs)


class LoginFormSchema(HtmlFormSchema):
    untrimmed = ("password",)

    username = text(64)
    password = text(256)
    next = fields.String(load_default=None)


def optional_date(raw: str, name: str, errors: dict[str, list[str]]) -> date | None:
    """A filter's ``YYYY-MM-DD`` value, ``None`` when empty; a bad value adds the field's message to ``errors``."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = ["应为日期（YYYY-MM-DD）"]
        return None


def lenient_load(schema: Any, args: Mapping[str, str]) -> dict[str, Any]:
    """A list page's query parameters: trimmed, empty ones dropped, and an invalid one ignored (its
    default applies) rather than refusing the page."""
    raw = {k: v.strip() for k, v in args.items() if isinstance(v, str) and v.strip()}
    try:
        return dict(schema.load(raw))
    except MarshmallowError as exc:
        bad = set(exc.messages) if isinstance(exc.messages, dict) else set(raw)
        return dict(schema.load({k: v for k, v in raw.items() if k not in bad}))
