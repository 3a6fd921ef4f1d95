"""Entrustment in, case out (masked), decision feedback back — through the API (DO-5, PR-2, PS-12)."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import select

from engine.context import Actor
from engine.models import Event
from engine.models import WorkflowInstance
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.messages import deliver_message
from tests.engine.package_factory import PDF
from tests.engine.package_factory import synthetic_household
from tests.web.test_api_tasks import _token

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
ADMIN = Actor("admin", "admin")


def _body(households: int = 2) -> dict:  # type: ignore[type-arg]
    items = []
    for i in range(households):
        household = synthetic_household(i)
        household["documents"] = [{"kind": "authorisation", "filename": "授权书.pdf",
                                   "content_base64": base64.b64encode(PDF).decode()}]
        items.append(household)
    return {"entrusting_unit": "HQ-MZB", "agency_unit": "CY-HDZX", "contact_name": "周敏",
            "contact_phone": "0431-88886666", "households": items}


def _setup(app) -> None:  # type: ignore[no-untyped-def]
    ctx = app.extensions["hedui"].new_context()
    seed_demo(ctx, actor=ADMIN)
    files = {p.name: p.read_bytes() for p in BPMN.glob("*.bpmn")}
    deploy_files(ctx, files, actor=ADMIN)
    ctx.session.commit()


def test_entrustment_starts_one_case_per_household(app, client) -> None:  # type: ignore[no-untyped-def]
    _setup(app)
    clerk = _token(client, "hq_street_clerk")
    assert client.post("/api/v1/entrustments", headers=_token(client, "cy_intake"), json=_body()).status_code == 403
    response = client.post("/api/v1/entrustments", headers=clerk, json=_body())
    assert response.status_code == 201, response.json
    cases = response.json["cases"]
    assert len(cases) == 2 and all(c["case_no"] for c in cases)
    detail = client.get(f"/api/v1/cases/{cases[0]['case_no']}", headers=_token(client, "cy_intake")).json
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["intake_check"]
    assert all("*" in p["id_number"] for p in detail["persons"] if p["id_number"])
    assert client.get(f"/api/v1/cases/{cases[0]['case_no']}", headers=_token(client, "ng_intake")).status_code == 404
    session = app.extensions["hedui"].new_context().session
    assert session.execute(select(Event).where(Event.kind == "personal_data_viewed")).first() is not None


def test_a_bad_household_stores_nothing(app, client) -> None:  # type: ignore[no-untyped-def]
    _setup(app)
    body = _body()
    body["households"][1]["members"][0]["id_number"] = "110101199001011233"  # wrong check digit
    response = client.post("/api/v1/entrustments", headers=_token(client, "hq_street_clerk"), json=body)
    assert response.status_code == 422 and "households" in response.json["details"]["fields"]
    session = app.extensions["hedui"].new_context().session
    assert session.execute(select(WorkflowInstance)).first() is None


def test_task_detail_carries_its_form_as_json_schema(app, client) -> None:  # type: ignore[no-untyped-def]
    _setup(app)
    client.post("/api/v1/entrustments", headers=_token(client, "hq_street_clerk"), json=_body(1))
    intake = _token(client, "cy_intake")
    task = client.get("/api/v1/tasks", headers=intake).json["items"][0]
    form = client.get(f"/api/v1/tasks/{task['id']}", headers=intake).json["form"]
    assert form["properties"]["decision"]["enum"] == ["accept", "return"]
    assert form["required"] == ["decision"] and form["additionalProperties"] is False


def test_decision_feedback_after_the_case_is_verified(app, client) -> None:  # type: ignore[no-untyped-def]
    _setup(app)
    case_no = client.post("/api/v1/entrustments", headers=_token(client, "hq_street_clerk"),
                          json=_body(1)).json["cases"][0]["case_no"]
    assistance = _token(client, "cy_assistance")
    decision = {"assistance_decision": "approved", "decided_on": "2026-11-30"}
    response = client.post(f"/api/v1/cases/{case_no}/decision", headers=assistance, json=decision)
    assert response.status_code == 409 and response.json["error"] == "no_decision_expected"
    _verify(app, case_no)
    response = client.post(f"/api/v1/cases/{case_no}/decision", headers=_token(client, "hq_street_clerk"),
                           json={"assistance_decision": "maybe"})
    assert response.status_code == 422
    response = client.post(f"/api/v1/cases/{case_no}/decision", headers=_token(client, "hq_street_clerk"),
                           json=decision)
    assert response.status_code == 200, response.json


def _verify(app, case_no: str) -> None:  # type: ignore[no-untyped-def]
    """Walk the case to 核对完成 through the engine (SoD: different people per step)."""
    ctx = app.extensions["hedui"].new_context()
    instance = ctx.session.execute(select(WorkflowInstance).where(
        WorkflowInstance.business_key == case_no)).scalar_one()
    steps = [("intake_check", {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True},
              "cy_intake"), ("review", {"decision": "accept"}, "cy_reviewer"),
             ("prepare_exchange", {"batch_checked": True}, "cy_exchange_1")]
    for bpmn_id, data, who in steps:
        _complete(ctx, instance, bpmn_id, data, who)
    units = sorted({s.correlation_key.split(":", 1)[1] for s in _subscriptions(ctx, instance)})
    for unit in units:
        deliver_message(ctx, "exchange_result", f"{case_no}:{unit}", {"result_id": 1}, actor=Actor(f"unit:{unit}"))
    for bpmn_id, data, who in [("confirm_exchange", {"statuses_checked": True}, "cy_exchange_2"),
                               ("issue_report", {"report_no": "朝核报〔2026〕1号"}, "cy_reporter"),
                               ("feedback", {}, "hq_street_clerk")]:
        _complete(ctx, instance, bpmn_id, data, who)
    ctx.session.commit()


def _complete(ctx, instance, bpmn_id, data, who) -> None:  # type: ignore[no-untyped-def]
    task = next(t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id)
    complete_task(ctx, task.id, data, actor=Actor(who, task.role_code))


def _subscriptions(ctx, instance):  # type: ignore[no-untyped-def]
    from engine.models import MessageSubscription

    return ctx.session.execute(select(MessageSubscription).where(
        MessageSubscription.instance_id == instance.id,
        MessageSubscription.message_name == "exchange_result")).scalars()


def test_history_and_replay_by_case_number(app, client) -> None:  # type: ignore[no-untyped-def]
    _setup(app)
    case_no = client.post("/api/v1/entrustments", headers=_token(client, "hq_street_clerk"),
                          json=_body(1)).json["cases"][0]["case_no"]
    auditor = _token(client, "auditor")
    history = client.get(f"/api/v1/cases/{case_no}/history", headers=auditor)
    assert history.status_code == 200 and history.json["business_key"] == case_no
    replay = client.post(f"/api/v1/cases/{case_no}/replay", headers=auditor)
    assert replay.status_code == 200 and replay.json["consistent"] is True
    assert client.get(f"/api/v1/cases/{case_no}/history", headers=_token(client, "ng_intake")).status_code == 404
