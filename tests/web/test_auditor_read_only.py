"""An auditor can read everything in its jurisdiction and change nothing (AU-1, PR-4).

The proof walks EVERY route of the application's ``url_map`` (browser pages with a signed-in
session and CSRF token, API routes with a bearer token), sends every method it accepts with a
plausible body, and compares the whole database before and after: the only rows an auditor may
add are its own access records (system stream), the record of a refusal in the case's history,
and sign-in bookkeeping. A route added later is walked automatically; if it lets an auditor
change something, this test fails until the route refuses or is listed below as read-only.
"""

from __future__ import annotations

import re
from datetime import date
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text

from engine.assignment import AUDITOR_READ_ONLY
from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.errors import PermissionDeniedError
from engine.models import Event
from engine.models import ExchangeRegistration
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import User
from engine.models.case import Household
from engine.services import instances
from engine.services.org import get_unit_by_code
from engine.services.org import grant_role
from tests.engine.package_factory import synthetic_household
from tests.web.test_cases_pages import make_case
from tests.web.test_intake import post
from tests.web.test_intake import setup_demo
from tests.web.test_intake import start_draft
from tests.web.test_login import login
from tests.web.test_login import logout
from tests.web.test_login import page_token

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
#: routes whose unsafe method changes nothing but the caller's own session, token or access record
READ_ONLY = {
    ("home.login", "POST"), ("home.logout", "POST"), ("api.create_token", "POST"),
    ("api.revoke_current_token", "DELETE"), ("api.case_replay_by_number", "POST"),
    ("cases.run_search", "POST"), ("audit.unmask", "POST"),
}
#: walked last, in this order: they end the session or the token the walk uses
LAST = ("api.revoke_current_token", "home.logout")
#: tables an auditor's requests may write to: sign-in bookkeeping
BOOKKEEPING = {"login_attempts", "api_tokens", "users"}
INTAKE_FORM = {"decision": "accept", "materials_complete": "yes", "paper_electronic_consistent": "yes"}


def _snapshot(app: Flask) -> dict[str, list[str]]:
    """Every row of every table, except what reading may add: access records and refusals."""
    out: dict[str, list[str]] = {}
    with app.extensions["hedui"].session_factory() as session:
        for table in sorted(inspect(session.get_bind()).get_table_names()):
            if table in BOOKKEEPING or table == "alembic_version":
                continue
            query = f"SELECT * FROM {table}"  # noqa: S608 (names come from the schema)
            if table == "events":
                query += " WHERE stream <> 'system' AND kind <> 'refused'"
            out[table] = sorted(repr(tuple(row)) for row in session.execute(text(query)))
    return out


def _changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, int]:
    return {t: len(set(after[t]) ^ set(before[t])) for t in after if set(after[t]) != set(before[t])}


@pytest.fixture
def world(app: Flask, client: Any) -> dict[str, Any]:
    """The demo region, one 朝阳区 case with an open task, a clerk's draft: values for every URL parameter."""
    setup_demo(app)
    case_no = make_case(app)
    login(client, "hq_street_clerk")
    draft_id = start_draft(client)
    logout(client)
    batch_id, import_id = _exchange_scene(app)
    recheck_no, report_id = _recheck_scene(app, case_no)
    complaint_no = _complaint_scene(app, case_no)
    with app.extensions["hedui"].session_factory() as session:
        household = session.execute(select(Household).where(Household.case_no == case_no)).scalar_one()
        task = session.execute(select(HumanTask).where(HumanTask.instance_id == household.instance_id,
                                                       HumanTask.status == HumanTaskStatus.OPEN)).scalars().first()
        registration = session.execute(select(ExchangeRegistration.id)).scalars().first()
        assert task is not None
        return {"case_no": case_no, "instance_id": household.instance_id, "task_id": task.id, "draft_id": draft_id,
                "step": "business", "file_id": 1, "job_id": 1, "username": "cy_intake",
                "registration_id": registration, "key": "exchange_window", "value": "2026-12-07",
                "name": "households.csv", "fmt": "csv", "unit_id": _unit_id(session, "CY-HDZX"), "code": "CY-HDZX",
                "hq_unit_id": _unit_id(session, "HQ-MZB"), "process_id": "standard_verification",
                "which": "authorisation", "position": 1, "batch_id": batch_id, "import_id": import_id,
                "document_id": _document_id(session, household),
                # a real recheck and a real report of the case: their routes are walked with data
                # (the batch routes take it too: a recheck number is no batch, they answer 404)
                "number": recheck_no, "recheck_no": recheck_no, "batch_no": recheck_no, "action": "pause",
                "report_id": report_id,
                # the statistics export (/stats/export/<table>.csv)
                "table": "volumes",
                # a complaint waiting for triage (AU-2): every triage action must refuse the auditor
                "complaint_no": complaint_no,
                # a spending item (DO-9): the auditor's void is refused by role before any lookup
                "item_id": 1,
                # a background migration run (版本迁移): designers only, refused by role before any lookup
                "run_id": 1,
                # a deployed definition (流程定义 pages and API; rollback must refuse the auditor; its
                # process_id is above)
                "version": 1, "filename": "standard_verification.bpmn"}


def _exchange_scene(app: Flask) -> tuple[int, int]:
    """A batch waiting for its second officer and a staged answer package waiting for its own (SD-2)."""
    import io

    from engine.exchange.batches import confirm_batch
    from engine.exchange.batches import prepare_batch
    from engine.exchange.catalogue import seed_demo_catalogue
    from engine.exchange.media_mode import export_batch
    from engine.exchange.media_mode import stage_package
    from engine.exchange.requests import collect_requests
    from engine.exchange.simulate import answer_package
    from tests.engine.exchange_factory import case_in_exchange
    from tests.engine.exchange_factory import officer

    clock = app.extensions["hedui"].clock
    clock.set(datetime(2026, 12, 14, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))  # inside Jilin's exchange window
    with app.extensions["hedui"].unit_of_work() as ctx:
        ctx.deadline = WorkingCalendar(ctx.session).deadline
        seed_demo_catalogue(ctx, actor=Actor("admin", "admin"), valid_from=date(2025, 1, 1))
        case_in_exchange(ctx, ["CC-BDC", "CC-GA"], index=40)
        collect_requests(ctx)
        first, second = officer(ctx, "cy_exchange_1"), officer(ctx, "cy_exchange_2")
        answered = prepare_batch(ctx, "CC-BDC", actor=first, mode="media")
        confirm_batch(ctx, answered.id, actor=second, queue_send=False)
        export_batch(ctx, answered.id, io.BytesIO(), actor=first)
        staged = stage_package(ctx, io.BytesIO(answer_package(ctx, answered)), actor=first)
        waiting = prepare_batch(ctx, "CC-GA", actor=first)
        return waiting.id, staged.id


def _recheck_scene(app: Flask, case_no: str) -> tuple[str, int]:
    """The case's report, issued, and a complaint filed on its household (DO-7, DO-8, PS-9)."""
    from engine.reports.service import issue_report
    from engine.services.rechecks import file_recheck
    from tests.engine.recheck_factory import as_user

    with app.extensions["hedui"].unit_of_work() as ctx:
        household = ctx.session.execute(select(Household).where(Household.case_no == case_no)).scalar_one()
        report = issue_report(ctx, household, actor=as_user(ctx, "cy_reporter", "report_officer"))
        form = {"trigger": "complaint", "requester_name": "匿名", "reason": "举报隐瞒经营收入",
                "requested_on": ctx.now().date().isoformat()}
        recheck = file_recheck(ctx, case_no=case_no, form=form, initiating_unit=get_unit_by_code(ctx, "HQ-MZB"),
                               actor=as_user(ctx, "hq_street_clerk", "assistance_officer"))
        return recheck.number, report.id


def _complaint_scene(app: Flask, case_no: str) -> str:
    """A phone complaint about the case, registered by the street office, waiting for triage (AU-2)."""
    from engine.services.complaints import register_complaint
    from tests.engine.recheck_factory import as_user

    with app.extensions["hedui"].unit_of_work() as ctx:
        complaint = register_complaint(ctx, unit=get_unit_by_code(ctx, "HQ-MZB"),
                                       actor=as_user(ctx, "hq_street_clerk"), form={
                                           "channel": "phone", "received_at": ctx.now().isoformat(),
                                           "case_no": case_no, "content": "举报隐瞒经营收入"})
        return complaint.number


def _document_id(session: Any, household: Household) -> int:
    from engine.models.case import Document

    return int(session.execute(select(Document.id).where(Document.household_id == household.id)
                               .order_by(Document.id)).scalars().first())


def _unit_id(session: Any, code: str) -> int:
    from engine.models import Unit

    return int(session.execute(select(Unit.id).where(Unit.code == code)).scalar_one())


def _body(endpoint: str, world: dict[str, Any]) -> dict[str, Any]:
    """A request body that would succeed for someone allowed to act, so only the auditor rule can stop it."""
    bodies: dict[str, dict[str, Any]] = {
        "api.complete": {"data": {"decision": "accept", "materials_complete": True,
                                  "paper_electronic_consistent": True}},
        "api.reassign": {"username": "cy_intake"},
        "api.create_entrustment": {"entrusting_unit": "HQ-MZB", "agency_unit": "CY-HDZX", "contact_name": "韩冰",
                                   "contact_phone": "0431-88880000", "households": [synthetic_household(7)]},
        "api.record_decision": {"decision": "approved"},
        "api.create_token": {"username": "auditor", "password": "hedui-demo"},
        "inbox.complete": INTAKE_FORM,
        "home.login": {"username": "auditor", "password": "hedui-demo"},
        "cases.run_search": {"q": world["case_no"]},
        "audit.unmask": {"purpose": "supervision"},
        "admin.grant_role": {"unit_id": world["unit_id"], "role_code": "intake_officer"},
        "admin.new_user": {"username": "mallory", "display_name": "某人", "password": "x" * 12,
                           "password_confirm": "x" * 12},
        "admin.end_registration": {"last_day": "2026-12-31"},
        "admin.unit_phone": {"contact_phone": "0431-85550000"},
        "admin.new_region": {"code": "220104002", "name": "新街道", "level": "town", "parent_code": "220104"},
        "admin_extra.set_calendar_day": {"kind": "holiday", "name": "测试"},
        "api.create_complaint": {"receiving_unit": "HQ-MZB", "received_at": "2026-11-23T08:00:00+08:00",
                                 "content": "举报隐瞒经营收入", "case_no": world["case_no"]},
        "complaints.create": {"unit": world["hq_unit_id"], "channel": "phone", "received_at": "2026-11-23T08:00",
                              "content": "举报隐瞒经营收入", "case_no": world["case_no"]},
        "complaints.refer": {"case_no": world["case_no"], "reason": "举报隐瞒经营收入"},
        "complaints.dismiss": {"reason": "举报对象不明确"},
        "complaints.close": {"reply": "已答复"},
        "api.refer_complaint": {"case_no": world["case_no"], "reason": "举报隐瞒经营收入"},
        "api.dismiss_complaint": {"reason": "举报对象不明确"},
        "api.close_complaint": {"reply": "已答复"},
        "api.decide_credit_record": {"decision": "approve"},
        "api.revoke_credit_record": {"reason": "申诉成立"},
        "designer.activate": {"reason": "回退到上一版本"},
        "spending.open_inquiry": {"basis": "发现购车记录"},
        "spending.add_item": {"category": "vehicle", "description": "购车", "amount": "1000", "source": "data_match"},
        "spending.void_item": {"reason": "重复登记"},
        "spending.conclude": {"outcome": "explained", "conclusion": "已说明"},
    }
    return bodies.get(endpoint, {})


def _url(app: Flask, rule: Any, world: dict[str, Any]) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{arg: world[arg] for arg in rule.arguments})


def _refused(client: Any, response: Any) -> bool:
    """An error status, or a redirect carrying an error message (the inbox explains refusals that way)."""
    if response.status_code >= 400:
        return True
    if response.status_code in (302, 303):
        with client.session_transaction() as session:
            return any(category == "error" for category, _ in session.get("_flashes", []))
    return False


def test_no_route_lets_an_auditor_change_anything(app: Flask, client: Any, world: dict[str, Any]) -> None:
    token = client.post("/api/v1/tokens", json={"username": "auditor", "password": "hedui-demo"}).json["token"]
    login(client, "auditor")
    rules = [r for r in app.url_map.iter_rules() if not r.endpoint.endswith("static")]
    rules.sort(key=lambda r: (r.endpoint in LAST, LAST.index(r.endpoint) if r.endpoint in LAST else 0, r.rule))
    walked, allowed = [], []
    for rule in rules:
        url = _url(app, rule, world)
        is_api = rule.endpoint.startswith("api.")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            before = _snapshot(app)
            body = _body(rule.endpoint, world)
            if is_api:
                response = client.open(url, method=method, json=body if method in UNSAFE else None,
                                       headers={"Authorization": f"Bearer {token}"})
            elif method in UNSAFE:
                data = {"csrf_token": page_token(client), **body}
                response = client.open(url, method=method, data=data)
            else:
                response = client.open(url, method=method)
            label = f"{method} {rule.rule} ({rule.endpoint})"
            walked.append(label)
            assert response.status_code < 500, f"{label}: {response.status_code}"
            assert _changes(before, _snapshot(app)) == {}, f"{label} changed the database"
            if method in UNSAFE:
                if (rule.endpoint, method) in READ_ONLY:
                    allowed.append(rule.endpoint)
                else:
                    assert _refused(client, response), f"{label} answered {response.status_code} to an auditor"
    assert len(walked) >= 70 and "POST /tasks/<task_id>/complete (inbox.complete)" in walked
    assert {"api.claim", "inbox.claim", "api.complete", "api.reassign"} & set(allowed) == set()


def test_the_auditors_refusals_are_recorded_with_a_stable_code(app: Flask, client: Any,
                                                                world: dict[str, Any]) -> None:
    token = client.post("/api/v1/tokens", json={"username": "auditor", "password": "hedui-demo"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    task_id = world["task_id"]
    for verb, body in (("claim", None), ("release", None), ("complete", _body("api.complete", world)),
                       ("reassign", {"username": "cy_intake"})):
        response = client.post(f"/api/v1/tasks/{task_id}/{verb}", json=body, headers=headers)
        assert (response.status_code, response.json["error"]) == (403, AUDITOR_READ_ONLY), verb
    with app.extensions["hedui"].session_factory() as session:
        refused = session.execute(select(Event).where(Event.kind == "refused", Event.actor == "auditor")
                                  .order_by(Event.seq)).scalars().all()
        assert [(e.payload["action"], e.payload["code"], e.payload["rule"]) for e in refused] == [
            ("claim", AUDITOR_READ_ONLY, "AU-1"), ("release", AUDITOR_READ_ONLY, "AU-1"),
            ("complete", AUDITOR_READ_ONLY, "AU-1"), ("reassign", AUDITOR_READ_ONLY, "AU-1")]
    login(client, "auditor")
    response = post(client, f"/tasks/{task_id}/claim", {})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert [m for c, m in session["_flashes"] if c == "error"] == [
            "认领未成功：审计监督员只能查阅案件，不能认领、办理、退回、改派或接受改派任务"]


def test_the_engine_refuses_an_auditor_who_also_holds_a_working_role(app: Flask, world: dict[str, Any]) -> None:
    """Given the intake role by mistake, the auditor still cannot act; nor can a task be reassigned to them."""
    ctx = app.extensions["hedui"].new_context()
    auditor = ctx.session.execute(select(User).where(User.username == "auditor")).scalar_one()
    admin = Actor("admin", "admin")
    grant_role(ctx, auditor, get_unit_by_code(ctx, "CY-HDZX"), "intake_officer", actor=admin)
    task_id = world["task_id"]
    as_intake = Actor("auditor", "intake_officer", auditor.id)
    for action in (lambda: instances.claim_task(ctx, task_id, actor=as_intake),
                   lambda: instances.complete_task(ctx, task_id, _body("api.complete", world)["data"],
                                                   actor=as_intake),
                   lambda: instances.release_task(ctx, task_id, actor=as_intake)):
        with pytest.raises(PermissionDeniedError) as refused:
            action()
        assert refused.value.code == AUDITOR_READ_ONLY
    supervisor = ctx.session.execute(select(User).where(User.username == "cy_supervisor")).scalar_one()
    with pytest.raises(PermissionDeniedError) as refused:
        instances.reassign_task(ctx, task_id, auditor, actor=Actor("cy_supervisor", "supervisor", supervisor.id))
    assert refused.value.code == AUDITOR_READ_ONLY
    task = ctx.session.get(HumanTask, task_id)
    assert task is not None and task.assignee is None and task.status == HumanTaskStatus.OPEN
    ctx.session.rollback()
    ctx.session.close()


def test_walk_covers_the_audit_pages(app: Flask) -> None:
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert {e for e in endpoints if re.match(r"^audit\.", e)} >= {"audit.index", "audit.case", "audit.replay",
                                                                   "audit.access_log"}
