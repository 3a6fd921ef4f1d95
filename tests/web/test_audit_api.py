"""The auditors' API and CLI: history (JSON, CSV), replay, jurisdiction, and the record of every look."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select
from sqlalchemy import text

from engine.context import Actor
from engine.history import SYSTEM_STREAM
from engine.models import Event
from engine.services.demo import DEMO_PASSWORD
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.org import get_unit_by_code
from tests.conftest import read_files

ADMIN = Actor("admin", "admin")


def _setup(ctx) -> int:  # type: ignore[no-untyped-def]
    """The demo region and one 朝阳区 case: 受理初审 done, 审核复审 returned it, waiting at 受理初审 again."""
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, read_files("linear_review.bpmn"), actor=ADMIN)
    instance = start_instance(
        ctx, "linear_review", actor=Actor("cy_intake", "intake_officer"), business_key="HD-1",
        agency_unit_id=get_unit_by_code(ctx, "CY-HDZX").id, entrusting_unit_id=get_unit_by_code(ctx, "HQ-MZB").id,
        region_code="220104001")
    for bpmn_id, data, actor in (("intake_check", {"remark": "材料齐全"}, Actor("cy_intake", "intake_officer")),
                                 ("review", {"decision": "return", "reason": "缺签字"},
                                  Actor("cy_reviewer", "review_officer"))):
        [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
        complete_task(ctx, task.id, data, actor=actor)
    ctx.session.commit()
    return instance.id


def _token(client, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/tokens", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture
def case_id(app) -> int:  # type: ignore[no-untyped-def]
    return _setup(app.extensions["hedui"].new_context())


def _events(app, stream: str) -> list[Event]:  # type: ignore[no-untyped-def]
    session = app.extensions["hedui"].new_context().session
    return list(session.execute(select(Event).where(Event.stream == stream).order_by(Event.seq)).scalars())


def test_auditor_reads_the_history_of_a_chaoyang_case(client, app, case_id) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/cases/{case_id}/history", headers=_token(client, "auditor"))
    assert response.status_code == 200
    body = response.json
    assert (body["business_key"], body["process_id"]) == ("HD-1", "linear_review")
    items = body["items"]
    assert [(i["seq"], i["kind"]) for i in items] == [(1, "started"), (2, "task_completed"), (3, "task_completed")]
    review = items[2]
    assert (review["actor"], review["actor_name"], review["role_name"]) == ("cy_reviewer", "王磊（朝阳区核对中心）",
                                                                            "审核复审员")
    assert (review["unit_code"], review["task_name"], review["definition_version"]) == ("CY-HDZX", "审核复审", 1)
    assert review["payload"]["data"] == {"decision": "return", "reason": "缺签字"}
    only_review = client.get(f"/api/v1/cases/{case_id}/history?kind=task_completed&actor=cy_reviewer",
                             headers=_token(client, "auditor")).json["items"]
    assert [i["seq"] for i in only_review] == [3]


def test_auditor_replays_a_case(client, case_id) -> None:  # type: ignore[no-untyped-def]
    response = client.post(f"/api/v1/cases/{case_id}/replay", headers=_token(client, "auditor"))
    assert response.status_code == 200
    assert response.json == {"consistent": True, "steps": 3, "first_divergence": None}
    detailed = client.post(f"/api/v1/cases/{case_id}/replay?steps=1", headers=_token(client, "auditor")).json
    assert [s["state"]["open_tasks"][0]["bpmn_id"] for s in detailed["snapshots"]] == ["intake_check", "review",
                                                                                         "intake_check"]


def test_other_jurisdiction_gets_404_and_no_duty_gets_403(client, case_id) -> None:  # type: ignore[no-untyped-def]
    ng = _token(client, "ng_intake")
    assert client.get(f"/api/v1/cases/{case_id}/history", headers=ng).status_code == 404
    assert client.get(f"/api/v1/cases/{case_id}/history?format=csv", headers=ng).status_code == 404
    assert client.post(f"/api/v1/cases/{case_id}/replay", headers=ng).status_code == 404
    assert client.get("/api/v1/cases/999999/history", headers=_token(client, "auditor")).status_code == 404
    city = client.get(f"/api/v1/cases/{case_id}/history", headers=_token(client, "cc_reviewer"))
    assert city.status_code == 403 and city.json["error"] == "audit_not_allowed"  # above the case, but no duty
    assert client.get(f"/api/v1/cases/{case_id}/history", headers=_token(client, "cy_intake")).status_code == 200
    assert client.get(f"/api/v1/cases/{case_id}/history").status_code == 401


def test_csv_export_has_a_header_and_one_row_per_event_and_is_recorded(client, app, case_id) -> None:  # type: ignore[no-untyped-def]
    before = len(_events(app, SYSTEM_STREAM))
    response = client.get(f"/api/v1/cases/{case_id}/history?format=csv", headers=_token(client, "auditor"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"case-{case_id}-history.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号", "时间（北京时间）", "事件类型", "事件"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"] and rows[3][3] == "办结任务"
    assert rows[1][1] == "2026-11-23T09:00:00+08:00"
    recorded = _events(app, SYSTEM_STREAM)[before:]
    assert [(e.kind, e.actor, e.actor_role, e.payload["instance_id"], e.payload["format"], e.payload["rows"])
            for e in recorded] == [("history_exported", "auditor", "auditor", case_id, "csv", 3)]
    # the case's own stream (its replay log) is untouched by reading it
    assert [e.kind for e in _events(app, f"instance:{case_id}")] == ["started", "task_completed", "task_completed"]


def test_viewing_json_export_and_replay_are_recorded(client, app, case_id) -> None:  # type: ignore[no-untyped-def]
    auditor = _token(client, "auditor")
    before = len(_events(app, SYSTEM_STREAM))
    client.get(f"/api/v1/cases/{case_id}/history?kind=started", headers=auditor)
    exported = client.get(f"/api/v1/cases/{case_id}/history?format=json", headers=auditor)
    assert exported.mimetype == "application/json" and len(exported.json["items"]) == 3
    client.post(f"/api/v1/cases/{case_id}/replay", headers=auditor)
    recorded = [(e.kind, e.payload.get("view"), e.payload.get("format")) for e in _events(app, SYSTEM_STREAM)[before:]]
    assert recorded == [("audit_viewed", "history", None), ("history_exported", None, "json"),
                        ("audit_viewed", "replay", None)]
    assert client.get(f"/api/v1/cases/{case_id}/history?format=xml", headers=auditor).status_code == 422


def test_openapi_documents_the_audit_routes(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    # one path each: the case number or, all digits, the workflow instance id (OpenAPI allows no second template)
    assert "get" in paths["/cases/{case_no}/history"] and "post" in paths["/cases/{case_no}/replay"]


# --- hedui audit verify | replay ---------------------------------------------------------------------------


def test_cli_verify_passes_then_reports_a_changed_state(runner, app, case_id) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "核验通过" in result.output
    session = app.extensions["hedui"].new_context().session
    session.execute(text("UPDATE workflow_instances SET state = replace(state, '\"return\"', '\"accept\"') "
                         "WHERE id = :i"), {"i": case_id})
    session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"案件 {case_id}（HD-1） 存储的流程状态：与第 3 号事件（task_completed）记录的状态摘要不符" in result.output
    assert "重放定位：第 3 号事件（task_completed review）之后：待办任务" in result.output
    result = runner.invoke(args=["audit", "replay", str(case_id)])
    assert result.exit_code == 1 and "不一致" in result.output and "第 3 号事件" in result.output


def test_cli_replay_all_reports_each_case_and_the_rate(runner, case_id) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["audit", "replay", "--all"])
    assert result.exit_code == 0, result.output
    assert f"案件 {case_id}（HD-1）：一致（3 步）" in result.output
    assert "共回放 1 个案件，0 个有问题" in result.output and "件/秒" in result.output
    assert runner.invoke(args=["audit", "replay"]).exit_code == 2
    missing = runner.invoke(args=["audit", "replay", "424242"])
    assert missing.exit_code == 1 and "案件 424242：不存在" in missing.output
