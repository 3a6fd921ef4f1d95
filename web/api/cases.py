"""Entrustments in, case status and reports out, assistance decisions back (DO-5, PR-2, PS-12).

Personal data leaves only masked here; every read of a case's personal data is recorded.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response
from flask import jsonify
from sqlalchemy import select

from engine import assignment
from engine.audit import record_access
from engine.case_due import finished_at
from engine.context import Actor
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.reports.service import current_report
from engine.services import cases as case_service
from engine.services import instances
from engine.services import spending
from engine.services.credit_queries import case_warnings
from engine.services.packages import DocumentIn
from forms.base import whole_number
from forms.decision_feedback import DecisionFeedbackForm
from forms.household import EntrustmentForm
from forms.household import HouseholdForm
from forms.ids import mask_id
from forms.jsonschema import json_schema
from web.api.blueprint import bp
from web.api.inputs import actor_in
from web.api.inputs import body_unit
from web.api.inputs import json_body
from web.api.inputs import no_body
from web.api.openapi import BEARER
from web.api.openapi import json_request
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.db import get_ctx

ENTRUSTING_ROLES = ("street_clerk", "assistance_officer")
FEEDBACK_TASKS = ("record_decision", "record_decision_late")


ENTRUSTMENT_FIELDS = ("entrusting_unit", "agency_unit", "households", "contact_name", "contact_phone", "number",
                      "household_count", "person_count")
DOCUMENT_FIELDS = ("kind", "filename", "content_base64")


def _households(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The households as dicts (422 for a list of anything else: none is silently left out)."""
    households = body.get("households")
    if households is None:
        return []
    if not isinstance(households, list) or not all(isinstance(h, dict) for h in households):
        raise ValidationError(fields={"households": ["须为核对对象家庭（对象）的列表"]})
    return [dict(h) for h in households]


def _documents(household: dict[str, Any], index: int) -> list[DocumentIn]:
    out = []
    documents = household.pop("documents", None) or []
    for j, doc in enumerate(documents if isinstance(documents, list) else [None]):
        try:
            if not isinstance(doc, dict) or set(doc) - set(DOCUMENT_FIELDS) \
                    or not all(isinstance(doc.get(k, ""), str) for k in DOCUMENT_FIELDS):
                raise TypeError
            content = base64.b64decode(doc["content_base64"], validate=True)
            out.append(DocumentIn(doc["kind"], doc.get("filename") or f"scan-{j}", content))
        except (KeyError, TypeError, binascii.Error):
            raise ValidationError(fields={"households": {str(index): {"documents": {str(j): [
                "附件须含 kind、filename（可选）与 base64 编码的 content_base64，均为文本"]}}}}) from None
    return out


@bp.post("/api/v1/entrustments")
@api_login_required
def create_entrustment() -> tuple[Response, int]:
    body = json_body(ENTRUSTMENT_FIELDS)
    ctx = get_ctx()
    entrusting, agency = body_unit(body, "entrusting_unit"), body_unit(body, "agency_unit")
    actor = actor_in(entrusting.id, ENTRUSTING_ROLES, refusal="您不是该委托单位的经办人员")
    households = _households(body)
    documents = [_documents(h, i) for i, h in enumerate(households)]
    entrustment = case_service.create_entrustment(
        ctx, entrusting_unit=entrusting, agency_unit=agency, households=households, documents=documents,
        contact_name=body.get("contact_name", ""), contact_phone=body.get("contact_phone", ""), actor=actor,
        number=body.get("number"), household_count=body.get("household_count"),
        person_count=body.get("person_count"), source="api")
    return jsonify({"entrustment": entrustment.number, "households": entrustment.household_count,
                    "persons": entrustment.person_count,
                    "cases": [{"case_no": h.case_no, "instance_id": h.instance_id}
                              for h in entrustment.households]}), 201


def _case(case_no: str) -> tuple[Household, WorkflowInstance]:
    ctx = get_ctx()
    household = ctx.session.execute(select(Household).where(Household.case_no == case_no)).scalar_one_or_none()
    if household is None or household.instance is None or not assignment.visible_to(
            ctx, current_api_user().id, household.instance):
        raise NotFoundError("案件不存在", case_no=case_no)
    return household, household.instance


@bp.get("/api/v1/cases/<case_no>")
@api_login_required
def get_case(case_no: str) -> Response:
    household, instance = _case(case_no)
    ctx = get_ctx()
    open_tasks = instances.list_open_tasks(ctx, instance_id=instance.id)
    user = current_api_user()
    record_access(ctx, "personal_data_viewed", instance, actor=Actor(user.username, None, user.id), via="api")
    return jsonify({
        "case_no": household.case_no, "instance_id": instance.id, "status": household.status.value,
        "process_status": instance.status.value, "business_type": household.business_type,
        # the statutory deadline (PS-10); overdue: still open (no report issued) past it
        "due_at": instance.due_at.isoformat() if instance.due_at else None,
        "overdue": _is_overdue(ctx, instance),
        "region_code": household.region_code, "entrusting_unit": household.entrustment.entrusting_unit.code,
        "agency_unit": household.entrustment.agency_unit.code,
        "persons": [{"name": p.name, "id_number": mask_id(p.id_number) if p.id_number else None,
                     "role": p.role.value, "relation": p.relation, "included": p.is_included}
                    for p in household.persons],
        "open_tasks": [{"id": t.id, "bpmn_id": t.bpmn_id, "name": t.name, "role": t.role_code,
                        "due_at": t.due_at.isoformat() if t.due_at else None} for t in open_tasks],
        # AU-3, JL 20: subjects with a dishonesty record in force anywhere (a warning; nothing is blocked)
        "credit_warnings": [{"credit_record": r.number, "name": p.name, "id_number": p.masked_id,
                             "unit": r.unit.code, "reason": r.reason.value, "valid_from": r.valid_from.isoformat(),
                             "valid_to": r.valid_to.isoformat()} for p, r in case_warnings(ctx, household)],
        "spending_inquiry": _spending(ctx, household),
    })


def _spending(ctx: Any, household: Household) -> dict[str, Any] | None:
    """The case's 支出调查 (DO-9): state, finding and the spending found (amounts as strings, in 元)."""
    inquiry = spending.inquiry_of(ctx, household)
    if inquiry is None:
        return None
    return {"status": inquiry.status.value, "outcome": inquiry.outcome.value if inquiry.outcome else None,
            "items": len(inquiry.valid_items), "total": str(inquiry.total),
            "opened_at": inquiry.opened_at.isoformat(),
            "concluded_at": inquiry.concluded_at.isoformat() if inquiry.concluded_at else None}


def _is_overdue(ctx: Any, instance: WorkflowInstance) -> bool:
    return instance.due_at is not None and instance.due_at < ctx.now() and finished_at(ctx.session, instance) is None


@bp.post("/api/v1/cases/<case_no>/decision")
@api_login_required
def record_decision(case_no: str) -> Response:
    """The entrusting unit reports its own assistance decision for a verified household (PS-12)."""
    household, instance = _case(case_no)
    body = json_body()
    ctx = get_ctx()
    feedback = ctx.session.execute(
        select(HumanTask).join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .where(WorkflowInstance.process_id == "decision_feedback", WorkflowInstance.business_key == case_no,
               HumanTask.status == HumanTaskStatus.OPEN, HumanTask.bpmn_id.in_(FEEDBACK_TASKS))
    ).scalars().first()
    if feedback is None:
        raise InvalidStateError("该案件尚未完成核对或救助审批结果已反馈", code="no_decision_expected")
    user = current_api_user()
    actor = Actor(user.username, feedback.role_code, user.id)
    task = instances.complete_task(ctx, feedback.id, body, actor=actor)
    report = current_report(ctx, case_no)
    # a decision on an expired report is recorded but flagged (LOC-27): the caller sees it too
    return jsonify({"case_no": case_no, "task": task.bpmn_id, "status": task.status.value,
                    "report": report.to_json() if report else None})


_JSON = {"application/json": {"schema": {"type": "object"}}}


def _entrustment_schema() -> dict[str, Any]:
    """The 委托书 form (``forms.household``) as the API takes it: units by code, scans inline, no date (today)."""
    letter = json_schema(EntrustmentForm())
    household = json_schema(HouseholdForm())
    household["properties"]["documents"] = {"type": "array", "title": "授权书等扫描件", "items": {
        "type": "object", "required": ["kind", "content_base64"], "additionalProperties": False, "properties": {
            "kind": {"type": "string", "description": "附件类别，如 authorisation"},
            "filename": {"type": "string"}, "content_base64": {"type": "string", "contentEncoding": "base64"}}}}
    letter["properties"].pop("entrusted_on")
    letter["properties"]["households"]["items"] = household
    letter["properties"] |= {"entrusting_unit": {"type": "string", "description": "委托单位代码"},
                             "agency_unit": {"type": "string", "description": "核对机构单位代码"}}
    letter["required"] = sorted({*letter.get("required", []), "entrusting_unit", "agency_unit"} - {"entrusted_on"})
    return letter


operation("post", "/entrustments",
          summary="委托核对：提交委托书与各户资料（含授权书扫描件，base64），每户生成一个核对案件",
          security=BEARER, requestBody=json_request(_entrustment_schema()),
          responses={"201": {"description": "委托书编号与案件编号", "content": _JSON},
                     "403": {"description": "不是委托单位经办人员"},
                     "422": {"description": "逐户逐字段的中文校验意见；任何一户有误则全部不写入"}})
_CASE = {"application/json": {"schema": {"type": "object", "properties": {
    "case_no": {"type": "string"}, "instance_id": {"type": "integer"}, "status": {"type": "string"},
    "process_status": {"type": "string"},
    "due_at": {"type": ["string", "null"], "format": "date-time",
               "description": "法定核对期限（PS-10：县级 10 个工作日，委托上级及复核 15 个工作日），UTC"},
    "overdue": {"type": "boolean", "description": "尚未出具核对报告且已超过核对期限"},
    "open_tasks": {"type": "array", "items": {"type": "object"}},
    "credit_warnings": {"type": "array", "items": {"type": "object"}},
    "spending_inquiry": {"type": ["object", "null"], "description": "支出调查（DO-9）：status open/concluded，"
                         "outcome explained/unexplained/inconclusive，items 有效支出项数，total 合计（元）"}}}}}
operation("get", "/cases/{case_no}",
          summary="案件概况（证件号脱敏）、核对期限（due_at、overdue，PS-10）、当前待办与有效失信登记提示"
          "（credit_warnings，AU-3）、支出调查（spending_inquiry，DO-9）；查看将被记录", security=BEARER,
          responses={"200": {"description": "案件", "content": _CASE}, "404": {"description": "不存在或不在辖区"}})
operation("post", "/cases/{case_no}/decision", summary="委托单位反馈救助审批结果（PS-12）", security=BEARER,
          requestBody=json_request(json_schema(DecisionFeedbackForm())),
          responses={"200": {"description": "已记录"}, "403": {"description": "不是委托单位的救助经办人员"},
                     "409": {"description": "尚无待反馈的审批结果（no_decision_expected）"},
                     "422": {"description": "表单校验失败（逾期反馈另须 late_reason）"}})


@bp.get("/api/v1/cases/<case_no>/history")
@api_login_required
def case_history_by_number(case_no: str) -> Response:
    """The timeline by case number, or by workflow instance id (all digits: the auditors' numeric form)."""
    from web.api.audit import case_history

    return case_history(_instance_id(case_no))


@bp.post("/api/v1/cases/<case_no>/replay")
@api_login_required
def case_replay_by_number(case_no: str) -> Response:
    from web.api.audit import case_replay

    no_body()
    return case_replay(_instance_id(case_no))


def _instance_id(case_ref: str) -> int:
    """A case number's instance id (visible cases only), or the instance id itself (checked by the audit rules)."""
    instance_id = whole_number(case_ref)
    return instance_id if instance_id is not None else _case(case_ref)[1].id


