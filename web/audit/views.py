"""The auditors' pages: case list, timeline (with exports and unmasking), step-by-step replay, access log.

Every page about a case checks the jurisdiction (404 outside it), shows the verification result
(hash chain, stored state, replay) first, and records the look in the access log (SEC-12). Nothing
here changes a case: the only writes are access records on the system stream.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask import abort
from flask import jsonify
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine import audit
from engine.audit_access import ACCESS_KINDS
from engine.audit_access import access_log as query_access_log
from engine.audit_access import auditor_scope
from engine.audit_access import cases_in_scope
from engine.audit_access import record_log_viewed
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.models import ProcessDefinition
from engine.models import Role
from engine.models import User
from engine.models import WorkflowInstance
from engine.models.case import Household
from forms.ids import mask_id
from forms.member_rules import RELATIONS
from web.api.audit import history_body
from web.api.audit import history_csv
from web.audit.blueprint import bp
from web.audit.display import data_lines
from web.audit.display import element_names
from web.audit.display import mask_text
from web.audit.replay_view import step_view
from web.audit.schemas import AUDIT_UNMASK_PURPOSES
from web.audit.schemas import AuditUnmaskSchema
from web.audit.schemas import access_filter
from web.audit.schemas import page_number
from web.cases import access
from web.cases.schemas import SEARCH_PURPOSES
from web.cases.schemas import UNMASK_PURPOSES
from web.db import get_ctx
from web.downloads import file_response
from web.home.schemas import field_errors
from web.home.schemas import load_form
from web.inbox.diagram import definition_xml
from web.inbox.views import local_time

PER_PAGE = 25
LOG_PER_PAGE = 50
STATUS_NAMES = {"running": "办理中", "completed": "已办结", "cancelled": "已撤销", "failed": "出错"}
#: payload keys that carry the data of a recorded command, shown as labelled lines
_DATA_KEYS = {"started": "data", "task_completed": "data", "message_received": "payload"}


def _actor() -> Actor:
    return Actor(current_user.username, "auditor", current_user.id)


def _audited(instance_id: int) -> tuple[WorkflowInstance, ProcessDefinition]:
    ctx = get_ctx()
    instance = ctx.session.get(WorkflowInstance, instance_id)
    if instance is None:
        raise NotFoundError("案件不存在", instance_id=instance_id)
    audit.assert_can_audit(ctx, current_user.id, instance)
    definition = ctx.session.get(ProcessDefinition, instance.definition_id)
    assert definition is not None  # an instance always references its definition
    return instance, definition


def _verification(instance: WorkflowInstance, replay: audit.ReplayResult | None = None) -> dict[str, Any]:
    """The tamper check of one case and its replay comparison, for the banner every case page shows."""
    ctx = get_ctx()
    problems = audit.verify_instance(ctx, instance.id)
    replay = replay or audit.replay_instance(ctx, instance.id)
    return {"ok": not problems and replay.consistent, "problems": [str(p) for p in problems],
            "replay": replay}


# --- the case list -----------------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    ctx = get_ctx()
    q, status = (request.args.get("q") or "").strip()[:100], request.args.get("status") or None
    status = status if status in STATUS_NAMES else None
    page = page_number(request.args.get("page"))
    total, cases = cases_in_scope(ctx, auditor_scope(ctx, current_user.id), q=q, status=status,
                                  offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    rows = [(c, audit.verify_instance(ctx, c.id, locate=False)) for c in cases]
    versions = {d.id: d for d in ctx.session.execute(select(ProcessDefinition).where(
        ProcessDefinition.id.in_({c.definition_id for c in cases}))).scalars()}
    return render_template("audit/index.html", rows=rows, versions=versions, total=total, page=page,
                           pages=max(1, -(-total // PER_PAGE)), q=q, status=status, statuses=STATUS_NAMES,
                           local_time=local_time)


# --- a case's timeline -------------------------------------------------------------------------------------


@bp.get("/cases/<int:instance_id>")
def case(instance_id: int) -> str:
    instance, definition = _audited(instance_id)
    return _case_page(instance, definition, unmasked=False, form={}, errors={}, message=None)


@bp.post("/cases/<int:instance_id>/unmask")
def unmask(instance_id: int) -> ResponseReturnValue:
    """Show this case's ID and account numbers once, for a stated purpose; recorded like the case page's."""
    instance, definition = _audited(instance_id)
    form = request.form.to_dict()
    try:
        data = load_form(AuditUnmaskSchema(), form)
    except ValidationError as exc:
        return _case_page(instance, definition, unmasked=False, form=form, errors=field_errors(exc),
                          message=exc.message), 422
    persons = _persons(instance)
    access.record_unmasked(get_ctx(), instance, _actor(), purpose=data["purpose"], note=data["note"],
                           person_ids=[p.id for p in persons if p.id_number])
    return _case_page(instance, definition, unmasked=True, form={}, errors={}, message=None)


def _filters() -> tuple[list[str], str | None]:
    kinds = [k for k in request.args.getlist("kind") if k]
    return kinds, (request.args.get("actor") or None)


def _case_page(instance: WorkflowInstance, definition: ProcessDefinition, *, unmasked: bool,
               form: dict[str, Any], errors: dict[str, list[str]], message: str | None) -> str:
    ctx = get_ctx()
    kinds, who = _filters()
    every = audit.timeline(ctx, instance.id)
    rows = audit.timeline(ctx, instance.id, kinds=kinds, actor=who) if kinds or who else every
    audit.record_access(ctx, "audit_viewed", instance, actor=_actor(), view="timeline",
                        filters={"kind": kinds, "actor": who}, unmasked=unmasked)
    forms_of = {t["bpmn_id"]: (t.get("properties") or {}).get("formKey")
                for t in (definition.task_catalogue or {}).get("user_tasks", [])}
    lines = {r.seq: data_lines((r.payload or {}).get(_DATA_KEYS[r.kind]) if isinstance(r.payload, dict) else None,
                               forms_of.get(r.bpmn_id or ""), unmasked=unmasked)
             for r in rows if r.kind in _DATA_KEYS}
    # the completion's summary repeats its data: the labelled lines show it instead (masked)
    summaries = {r.seq: (f"办结任务「{r.task_name}」" if r.kind == "task_completed" and r.task_name
                         else r.summary if unmasked else mask_text(r.summary)) for r in rows}
    actors = sorted({(r.actor, r.actor_name or r.actor) for r in every})
    export_args: dict[str, Any] = {"kind": kinds, "actor": who} if kinds or who else {}
    return render_template(
        "audit/case.html", instance=instance, definition=definition, rows=rows, lines=lines, summaries=summaries,
        kinds=sorted({(r.kind, r.kind_name) for r in every}), actors=actors, chosen_kinds=kinds, chosen_actor=who,
        verification=_verification(instance), persons=_persons(instance), unmasked=unmasked,
        shown_id=lambda p: (p.id_number if unmasked else mask_id(p.id_number)) if p.id_number else "（无）",
        relation=lambda code: RELATIONS.get(code, (code, None))[0], purposes=list(AUDIT_UNMASK_PURPOSES.items()),
        form=form, errors=errors, message=message, export_args=export_args, status_names=STATUS_NAMES,
        local_time=local_time)


def _persons(instance: WorkflowInstance) -> list[Any]:
    if not instance.business_key:
        return []
    household = get_ctx().session.execute(
        select(Household).where(Household.case_no == instance.business_key)).scalar_one_or_none()
    return list(household.persons) if household is not None else []


@bp.get("/cases/<int:instance_id>/export.<fmt>")
def export(instance_id: int, fmt: str) -> Response:
    """The timeline as CSV or JSON (the same files as the API's), recorded as an export."""
    if fmt not in ("csv", "json"):
        abort(404)
    instance, _definition = _audited(instance_id)
    ctx = get_ctx()
    kinds, who = _filters()
    rows = audit.timeline(ctx, instance.id, kinds=kinds, actor=who)
    audit.record_access(ctx, "history_exported", instance, actor=_actor(), format=fmt, via="web",
                        filters={"kind": kinds, "actor": who}, rows=len(rows))
    name = f"case-{instance.id}-history.{fmt}"
    if fmt == "json":
        content = json.dumps(history_body(instance, rows), ensure_ascii=False, indent=2)
        return file_response(content, name, mimetype="application/json; charset=utf-8")
    return file_response(history_csv(rows), name, mimetype="text/csv; charset=utf-8")


# --- step-by-step replay -----------------------------------------------------------------------------------


def _step_arg() -> int:
    return page_number(request.args.get("step"))


@bp.get("/cases/<int:instance_id>/replay")
def replay(instance_id: int) -> str:
    instance, definition = _audited(instance_id)
    ctx = get_ctx()
    result = audit.replay_instance(ctx, instance.id, steps=True)
    xml = definition_xml(ctx, definition)
    view = step_view(ctx, instance, definition, result, _step_arg(), xml=xml)
    audit.record_access(ctx, "audit_viewed", instance, actor=_actor(), view="replay",
                        step=view.number if view else None, consistent=result.consistent)
    return render_template("audit/replay.html", instance=instance, definition=definition, view=view,
                           verification=_verification(instance, result), names=element_names(xml),
                           local_time=local_time, diagram=view.diagram(xml, definition) if view else None)


@bp.get("/cases/<int:instance_id>/replay/diagram")
def replay_diagram(instance_id: int) -> Response:
    """The pinned diagram and the marks of one replayed step, for ``web/static/diagram.js`` (part of the page view)."""
    instance, definition = _audited(instance_id)
    ctx = get_ctx()
    result = audit.replay_instance(ctx, instance.id, steps=True)
    xml = definition_xml(ctx, definition)
    view = step_view(ctx, instance, definition, result, _step_arg(), xml=xml)
    if view is None:
        raise NotFoundError("该案件没有可重放的步骤")
    return jsonify(view.diagram(xml, definition))


# --- the access log ----------------------------------------------------------------------------------------


@bp.get("/access")
def access_log() -> str:
    ctx = get_ctx()
    f, shown = access_filter(request.args)
    query: dict[str, Any] = dict(shown)  # url_for's **values; a plain str value could not fill _external
    page = page_number(request.args.get("page"))
    rows, more = query_access_log(ctx, auditor_scope(ctx, current_user.id), f, offset=(page - 1) * LOG_PER_PAGE,
                                  limit=LOG_PER_PAGE)
    record_log_viewed(ctx, _actor(), {k: v for k, v in shown.items() if v})
    names = dict(ctx.session.execute(select(User.username, User.display_name).where(
        User.username.in_({e.actor for e in rows}))).all())
    roles = dict(ctx.session.execute(select(Role.code, Role.name)).all())
    return render_template("audit/access_log.html", rows=rows, more=more, page=page, shown=shown,
                           kinds=ACCESS_KINDS, names=names, role_names=roles, local_time=local_time,
                           details=_details, page_url=lambda n: url_for("audit.access_log", page=n, **query))


_DETAIL_NAMES = {"view": "查阅内容", "page": "页面", "format": "格式", "purpose": "用途", "note": "说明",
                 "results": "查到案件数", "rows": "导出条数", "step": "重放步骤", "task_id": "任务", "via": "途径"}
_PURPOSES = {**SEARCH_PURPOSES, **UNMASK_PURPOSES, **AUDIT_UNMASK_PURPOSES}
_VIEW_NAMES = {"history": "办理记录（接口）", "timeline": "时间线", "replay": "重放", "case": "案件页"}


def _details(payload: Any) -> list[tuple[str, str]]:
    """The record's details worth showing (never an ID number: searches keep only a keyed hash)."""
    if not isinstance(payload, dict):
        return []
    out = []
    for key, label in _DETAIL_NAMES.items():
        value = payload.get(key)
        if value in (None, "", []):
            continue
        if key == "view":
            value = _VIEW_NAMES.get(str(value), value)
        if key == "purpose":
            value = _PURPOSES.get(str(value), value)
        if key == "via":
            value = {"web": "网页", "api": "接口"}.get(str(value), value)
        out.append((label, str(value)))
    if payload.get("person_ids"):
        out.append(("涉及人数", str(len(payload["person_ids"]))))
    return out
