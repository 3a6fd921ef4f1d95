"""System-mode exchange endpoints for sharing units (DX-3, DX-5, DX-7).

Units authenticate by signing each request with their key (``engine.exchange.signing``:
HMAC-SHA256 or HMAC-SM3 over method, path, unit, key id, timestamp, nonce and the body digest);
a used nonce is refused (replay), and a result delivery is idempotent per ``delivery_id``. Every
body names the unit-side officer who released it (``officer``, SD-3; ``engine.exchange.officers``).
Officers (bearer token) can list overdue requests.
"""

from __future__ import annotations

from flask import Response
from flask import jsonify
from flask import request

from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.exchange.control import officer_scope
from engine.exchange.queries import in_scope
from engine.exchange.results import overdue_requests
from engine.exchange.system_mode import DELAYS_PATH
from engine.exchange.system_mode import RESULTS_PATH
from engine.exchange.system_mode import receive_delay_notice
from engine.exchange.system_mode import receive_results
from web.api.blueprint import bp
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.db import get_ctx

SIGNATURE_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("X-Hedui-Unit", "发送方信息共享单位代码"),
        ("X-Hedui-Key-Id", "签名所用密钥编号"),
        ("X-Hedui-Timestamp", "UTC 时间 YYYY-MM-DDTHH:MM:SSZ，与服务器相差不超过 5 分钟"),
        ("X-Hedui-Nonce", "随机数（8–128 位 ASCII），每个请求不同，重复即拒绝"),
        ("X-Hedui-Signature-Alg", "hmac-sha256 或 hmac-sm3"),
        ("X-Hedui-Signature", "十六进制签名：HMAC(密钥, \"HEDUI-SIG-1\\n算法\\nPOST\\n路径\\n单位\\n密钥编号\\n"
                              "时间戳\\n随机数\\n请求体SHA-256\")"),
    )
]

RESULT_RECORD = {
    "type": "object",
    "required": ["request_id", "id_number", "category", "status", "records"], "additionalProperties": False,
    "properties": {
        "request_id": {"type": "integer", "description": "请求行中的 request_id"},
        "id_number": {"type": "string"},
        "category": {"type": "string", "description": "DX-8 数据类别代码"},
        "status": {"enum": ["has_data", "no_record"]},
        "records": {"type": "array", "items": {"type": "object"}, "description": "原始字段"},
    },
}


#: SD-3: the unit-side officer who released the answer (see docs/exchange-protocol.md)
OFFICER_FIELD = {"type": "string", "maxLength": 64,
                 "description": "放行本反馈的共享单位交换人员：其在本系统备案的用户名"
                                "（须为该单位一方备案、且在反馈日期有效）"}
OFFICER_CODES = "unit_officer_missing / unit_officer_unknown / unit_officer_unregistered / unit_officer_not_valid"


def _signed_body() -> bytes:
    """The raw body the signature covers; it must be declared JSON (422 ``invalid_json`` otherwise)."""
    if not request.is_json:
        raise ValidationError("请求体应为 JSON（Content-Type: application/json）", code="invalid_json")
    return request.get_data(cache=True)


@bp.post(RESULTS_PATH)
def post_results() -> tuple[Response, int]:
    staged, new = receive_results(get_ctx(), dict(request.headers), _signed_body(), request.path)
    return jsonify({"import_id": staged.id, "status": staged.status.value, "records": staged.record_count,
                    "duplicate": not new}), 201 if new else 200


operation("post", "/exchange/results", summary="信息共享单位反馈核对结果（系统交换）", security=[],
          description="单位用本单位密钥签名提交一个批次的结果；以 delivery_id 幂等（重复提交返回原导入记录）。"
                      "结果先暂存，由第二名备案交换人员确认后才进入案件（SD-2）。",
          parameters=SIGNATURE_HEADERS,
          requestBody={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["delivery_id", "batch_no", "officer", "results"],
              "additionalProperties": False,
              "properties": {"delivery_id": {"type": "string", "maxLength": 100},
                             "batch_no": {"type": "string", "maxLength": 64},
                             "officer": OFFICER_FIELD,
                             "results": {"type": "array", "items": RESULT_RECORD}}}}}},
          responses={"201": {"description": "已暂存，待确认"}, "200": {"description": "重复提交（幂等）"},
                     "403": {"description": "签名无效（bad_signature / unknown_key / stale_timestamp / "
                                            "replayed_nonce）或放行人员未备案（" + OFFICER_CODES + "）"},
                     "404": {"description": "批次不存在或不属于该单位（answer_wrong_batch）"},
                     "409": {"description": "批次已反馈（answer_duplicate）"},
                     "422": {"description": "记录不属于该批次（answer_wrong_batch）、格式不正确（answer_invalid），"
                                            "或字段缺失、类型或长度有误、含未列出的字段（validation_error）"}})


@bp.post(DELAYS_PATH)
def post_delay_notice() -> tuple[Response, int]:
    notice = receive_delay_notice(get_ctx(), dict(request.headers), _signed_body(), request.path)
    return jsonify({"notice_id": notice.id, "days": notice.days, "sha256": notice.document_sha256}), 201


operation("post", "/exchange/delay-notices", summary="信息共享单位书面延期说明（DX-5）", security=[],
          description="无法在 7 个工作日内反馈时提交书面说明（附文件），延期 1–5 个工作日，每个请求只可一次。",
          parameters=SIGNATURE_HEADERS,
          requestBody={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["case_no", "officer", "days", "reason", "document_name",
                                             "document_base64"],
              "additionalProperties": False,
              "properties": {"case_no": {"type": "string", "maxLength": 64}, "officer": OFFICER_FIELD,
                             "days": {"type": "integer", "minimum": 1, "maximum": 5},
                             "reason": {"type": "string", "maxLength": 500},
                             "document_name": {"type": "string", "maxLength": 255},
                             "document_base64": {"type": "string"}}}}}},
          responses={"201": {"description": "已登记，期限已顺延"},
                     "403": {"description": "签名无效或签发人员未备案（" + OFFICER_CODES + "）"},
                     "404": {"description": "没有该案件向该单位的交换请求（request_not_found）"},
                     "409": {"description": "已登记过或不在等待反馈状态"},
                     "422": {"description": "延期天数超过 5 个工作日（delay_too_long）或缺少文件"}})


@bp.get("/api/v1/exchange/overdue")
@api_login_required
def list_overdue() -> Response:
    ctx = get_ctx()
    scope = officer_scope(ctx, current_api_user().id)
    if not scope:
        raise PermissionDeniedError("只有已备案的数据交换人员可以查看", code="exchange_officer_only")
    items = [{"request_id": r.id, "case_no": r.case_no, "unit": r.unit.code, "status": r.status.value,
              "reply_due": r.reply_due.isoformat(), "extended_days": r.extended_days}
             for r in in_scope(overdue_requests(ctx), scope)]
    return jsonify({"items": items})


operation("get", "/exchange/overdue", summary="超期未反馈的交换请求（PS-10；本人备案的单位）",
          security=BEARER, responses={"200": {"description": "请求列表"}})
