"""The statistics filters, as query parameters of the page, its CSV exports and ``GET /api/v1/stats``.

Period presets count from today (Beijing date): the current month, quarter or year, whole; a custom
period needs both dates. Errors are Chinese messages per field (422), the same shape as every form.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema
from marshmallow.types import ErrorMessages

from engine.context import EngineContext
from engine.stats.scope import StatsQuery
from engine.stats.scope import validate as validate_scope
from forms.household import BUSINESS_TYPES
from web.home.schemas import HtmlFormSchema
from web.home.schemas import load_form

PERIODS = {"month": "本月", "quarter": "本季度", "year": "本年度", "custom": "自定义"}
PARAMETERS = ("period", "from", "to", "region", "agency", "business_type")
_DATE: ErrorMessages = {"invalid": "请输入有效日期（年-月-日）"}


class StatsFilterSchema(HtmlFormSchema):
    period = fields.String(load_default="month",
                           validate=validate.OneOf(list(PERIODS), error="请选择统计期间"))
    first = fields.Date(data_key="from", load_default=None, error_messages=_DATE)
    last = fields.Date(data_key="to", load_default=None, error_messages=_DATE)
    region = fields.String(load_default=None, validate=validate.Length(max=12, error="请选择地区"))
    agency = fields.Integer(load_default=None, strict=False, error_messages={"invalid": "请选择核对机构"})
    business_type = fields.String(load_default=None,
                                  validate=validate.OneOf(list(BUSINESS_TYPES), error="请选择业务类别"))

    @validates_schema
    def _custom_needs_dates(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("period") != "custom":
            return
        errors = {key: ["自定义期间须填写开始日期和结束日期"] for key, name in (("from", "first"), ("to", "last"))
                  if data.get(name) is None}
        if errors:
            raise MarshmallowError(errors)


def preset(period: str, today: date) -> tuple[date, date]:
    """The whole current month, quarter or year containing ``today``."""
    if period == "year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    first_month = (today.month - 1) // 3 * 3 + 1 if period == "quarter" else today.month
    last_month = first_month + 2 if period == "quarter" else today.month
    following = date(today.year + 1, 1, 1) if last_month == 12 else date(today.year, last_month + 1, 1)
    return date(today.year, first_month, 1), date.fromordinal(following.toordinal() - 1)


def load_query(ctx: EngineContext, user_id: int, args: Mapping[str, Any]) -> StatsQuery:
    """Parse and check the filters (jurisdiction included).

    :raises ValidationError: ``details['fields']`` keyed by the parameter names (``from``, ``to``, ``region``...).
    """
    # other parameters (a tracking tag, a cache buster) are ignored, not refused: this is a read
    data = load_form(StatsFilterSchema(), {k: v for k, v in args.items() if k in PARAMETERS and isinstance(v, str)})
    first, last = (data["first"], data["last"]) if data["period"] == "custom" else preset(data["period"], ctx.today())
    query = StatsQuery(user_id, first, last, region_code=data["region"], agency_unit_id=data["agency"],
                       business_type=data["business_type"])
    validate_scope(ctx, query)
    return query
