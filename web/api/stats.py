"""``GET /api/v1/stats``: the statistics of the caller's jurisdiction as JSON (AN-1, AU-4).

The same filters as the 统计分析 page (query parameters), the same roles, the same record of every
reading. Aggregates only: no names, no ID numbers.
"""

from __future__ import annotations

from flask import Response
from flask import jsonify
from flask import request

from engine.context import Actor
from engine.errors import PermissionDeniedError
from engine.stats import access
from engine.stats.report import compute
from engine.stats.report import to_dict
from forms.household import BUSINESS_TYPES
from web.api.blueprint import bp
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.db import get_ctx
from web.stats.blueprint import REFUSED
from web.stats.schemas import PERIODS
from web.stats.schemas import load_query


@bp.get("/api/v1/stats")
@api_login_required
def stats() -> Response:
    ctx = get_ctx()
    user = current_api_user()
    if not access.may_view(ctx, user.id):
        raise PermissionDeniedError(REFUSED, code="stats_role_required", roles=list(access.STATS_ROLES))
    query = load_query(ctx, user.id, request.args)
    body = to_dict(compute(ctx, query))
    access.record_viewed(ctx, Actor(user.username, None, user.id), query, via="api")
    return jsonify(body)


_COUNTS = {"type": "integer", "minimum": 0}
_GROUP = {"type": "object", "properties": {
    "key": {"type": "string"}, "name": {"type": "string"}, "region": {"type": "string"},
    "level": {"type": "string"},
    **{name: _COUNTS for name in ("received", "completed", "terminated", "returned", "in_progress", "cancelled",
                                  "rechecks", "from_lower", "escalated", "cross_city")},
    "on_time": {**_COUNTS, "description": "在法定核对期限（workflow_instances.due_at）内出具报告的案件（PS-10）"},
    "late": {**_COUNTS, "description": "超过法定核对期限出具报告的案件"},
    "step_late": {**_COUNTS, "description": "步骤超时：已出具报告且有环节晚于该环节办理时限办结的案件"},
    "overdue_open": {**_COUNTS, "description": "办理中且已超过法定核对期限的案件"},
    "on_time_rate": {"type": ["number", "null"], "description": "按时办结率（%，一位小数）：按时 ÷（按时 + 逾期）"},
    "average_work_days": {"type": ["number", "null"]}, "median_work_days": {"type": ["number", "null"]}}}
_SHARING = {"type": "object", "properties": {
    "unit_id": {"type": "integer"}, "name": {"type": "string"},
    **{name: _COUNTS for name in ("requests", "sent", "answered", "answered_in_time", "delay_notices", "overdue",
                                  "waiting")},
    "in_time_rate": {"type": ["number", "null"]}, "average_answer_work_days": {"type": ["number", "null"]}}}
operation("get", "/stats",
          summary="统计分析：本辖区各核对机构业务量与办理时效、按业务类别与核对结果、各信息共享单位反馈情况"
          "（只含汇总数字；查阅留痕）", security=BEARER,
          parameters=[
              {"name": "period", "in": "query", "schema": {"type": "string", "enum": list(PERIODS),
                                                           "default": "month"},
               "description": "统计期间（按案件受理日期，北京时间）：本月、本季度、本年度或自定义"},
              {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "自定义期间的开始日期（含）"},
              {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "自定义期间的结束日期（含）"},
              {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "辖区内的地区代码"},
              {"name": "agency", "in": "query", "schema": {"type": "integer"},
               "description": "辖区内核对机构的单位 id"},
              {"name": "business_type", "in": "query", "schema": {"type": "string", "enum": list(BUSINESS_TYPES)}},
          ],
          responses={"200": {"description": "统计结果", "content": {"application/json": {"schema": {
              "type": "object", "properties": {
                  "period": {"type": "object"}, "filters": {"type": "object"},
                  "generated_at": {"type": "string", "format": "date-time"},
                  "agencies": {"type": "array", "items": _GROUP}, "levels": {"type": "array", "items": _GROUP},
                  "business_types": {"type": "array", "items": _GROUP}, "total": _GROUP,
                  "outcomes": {"type": "array", "items": {"type": "object"}},
                  "sharing_units": {"type": "array", "items": _SHARING}, "sharing_total": _SHARING}}}}},
                     "403": {"description": "不具备查看统计的角色（stats_role_required）"},
                     "422": {"description": "统计条件有误（validation_error，details.fields 按参数给出中文说明）"}})
