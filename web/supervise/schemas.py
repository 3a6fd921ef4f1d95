"""本单位任务: the list's query string (step, assignee, page) and the reassignment form.

Like the inbox, the list is a bookmarkable GET: a value that does not validate is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from marshmallow import EXCLUDE
from marshmallow import Schema
from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields
from marshmallow import validate

from forms.text import FIELD_MESSAGE as CONTROL_MESSAGE
from forms.text import has_control
from web.home.schemas import lenient_load

#: the assignee filter's value for unclaimed tasks (no username is a single dash)
UNCLAIMED = "-"
PAGE_SIZE = 20
REASON_MAX = 200


@dataclass(frozen=True)
class UnitTaskFilter:
    step: str | None = None
    assignee: str | None = None
    page: int = 1

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments for a link to this view with ``changes`` (defaults left out)."""
        values = asdict(replace(self, **changes))
        return {k: v for k, v in values.items() if v is not None and not (k == "page" and v == 1)}

    @property
    def is_filtered(self) -> bool:
        return bool(self.step or self.assignee)


class UnitTaskQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    step = fields.String(validate=validate.Length(min=1, max=100))
    assignee = fields.String(validate=validate.Length(min=1, max=64))
    page = fields.Integer(validate=validate.Range(min=1, max=100_000), strict=False)


def load_filter(args: Mapping[str, str]) -> UnitTaskFilter:
    """The view asked for; invalid or empty values fall back to their defaults."""
    data = lenient_load(UnitTaskQuerySchema(), args)
    return UnitTaskFilter(**data)


class ReassignFormSchema(Schema):
    """「改派」: the new assignee (one of the offered candidates) and an optional reason."""

    class Meta:
        unknown = EXCLUDE

    username = fields.String(required=True, validate=validate.Length(min=1, max=64),
                             error_messages={"required": "请选择改派给谁"})
    reason = fields.String(load_default=None, validate=validate.Length(
        max=REASON_MAX, error=f"改派原因不能超过 {REASON_MAX} 个字"))


class ReleaseFormSchema(Schema):
    """「退回待认领」 with an optional reason."""

    class Meta:
        unknown = EXCLUDE

    reason = fields.String(load_default=None, validate=validate.Length(
        max=REASON_MAX, error=f"退回原因不能超过 {REASON_MAX} 个字"))


def load_form(schema: Schema, form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The posted values (blank → absent) and per-field Chinese messages (empty when valid)."""
    raw = {k: v.strip() for k, v in form.items() if k != "csrf_token" and isinstance(v, str) and v.strip()}
    if controlled := sorted(k for k, v in raw.items() if has_control(v)):
        return {}, {k: [CONTROL_MESSAGE] for k in controlled}
    try:
        return schema.load(raw), {}
    except MarshmallowError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        return {}, {k: [str(m) for m in v] if isinstance(v, list) else [str(v)] for k, v in messages.items()}
