"""The inbox's query string (tab, filters, sort, page) and the task form's posted fields.

A list is a bookmarkable GET: a value that does not validate is dropped (the default applies),
never an error page, so an old or hand-edited link still shows the inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from marshmallow import EXCLUDE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from web.home.schemas import lenient_load

TABS = {"mine": "我认领的", "claimable": "可认领", "overdue": "已超期", "done": "我已办结"}
DUE_STATES = {"overdue": "已超期", "soon": "2 个工作日内到期", "ontime": "未超期"}
SORTS = {"asc": "期限由近到远", "desc": "期限由远到近"}
#: working days ahead that count as "due soon"
SOON_WORKING_DAYS = 2
PAGE_SIZE = 20


@dataclass(frozen=True)
class InboxFilter:
    """One view of the inbox; ``tab`` None means "the default tab" (chosen by the view)."""

    tab: str | None = None
    process: str | None = None
    step: str | None = None
    due: str | None = None
    sort: str = "asc"
    page: int = 1

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments for a link to this view with ``changes`` (defaults left out)."""
        values = asdict(replace(self, **changes))
        defaults = asdict(InboxFilter())
        return {k: v for k, v in values.items() if v is not None and v != defaults[k]}

    @property
    def is_filtered(self) -> bool:
        return bool(self.process or self.step or self.due)


class InboxQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    tab = fields.String(validate=validate.OneOf(list(TABS)))
    process = fields.String(validate=validate.Length(min=1, max=100))
    step = fields.String(validate=validate.Length(min=1, max=100))
    due = fields.String(validate=validate.OneOf(list(DUE_STATES)))
    sort = fields.String(validate=validate.OneOf(list(SORTS)))
    page = fields.Integer(validate=validate.Range(min=1, max=100_000), strict=False)


def load_filter(args: Mapping[str, str]) -> InboxFilter:
    """The inbox view asked for; invalid or empty values fall back to their defaults."""
    data = lenient_load(InboxQuerySchema(), args)
    return InboxFilter(**data)
