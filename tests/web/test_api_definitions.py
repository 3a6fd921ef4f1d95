"""``/api/v1/process-definitions`` (designer tools: versions and comparing): readers, JSON bodies, files, diff."""

from __future__ import annotations

import pytest

from tests.engine.definitions_factory import PROCESS
from tests.web.test_api_tasks import _token
from tests.web.test_designer_pages import seed_built

API = "/api/v1/process-definitions"
#: the demo region and two versions of linear_review with cases on each, seeded once for the module
SEED_ONCE = seed_built


def test_overview(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(API, headers=_token(client, "auditor"))
    assert response.status_code == 200
    [item] = response.json["items"]
    assert item == {**item, "process_id": PROCESS, "name": "测试：受理与审核", "current_version": 2, "versions": 2,
                    "last_deployed_by": "designer", "last_deployed_by_name": "曹宇（流程设计）", "running": 2,
                    "ended": 1}
    assert item["last_deployed_at"].startswith("2026-11-23T")


def test_versions_and_history(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get(f"{API}/{PROCESS}", headers=_token(client, "designer")).json
    assert body["current_version"] == 2
    assert [(v["version"], v["is_current"], v["running"], v["ended"]) for v in body["versions"]] == [
        (2, True, 1, 0), (1, False, 1, 1)]
    assert len(body["versions"][0]["content_hash"]) == 64 and len(body["versions"][0]["short_hash"]) == 12
    assert [(h["kind"], h["version"], h["reason"]) for h in body["history"]] == [
        ("deployed", 2, None), ("deployed", 1, None)]


def test_one_version_with_user_tasks_and_files(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get(f"{API}/{PROCESS}/versions/2", headers=_token(client, "admin")).json
    assert (body["version"], body["previous_version"], body["is_current"]) == (2, 1, True)
    tasks = {t["bpmn_id"]: t for t in body["user_tasks"]}
    assert tasks["intake_check"]["due_working_days"] == "5" and tasks["intake_check"]["name"] == "受理与初审"
    assert tasks["review"]["role_name"] == "审核复审员" and tasks["review"]["sod"] == {
        "sodNotSameAs": "intake_check", "sodRule": "SD-1"}
    [file] = body["files"]
    assert file["filename"] == "linear_review.bpmn" and len(file["sha256"]) == 64 and file["size"] > 1000
    assert "diagram_xml" not in body


def test_file_is_xml(client) -> None:  # type: ignore[no-untyped-def]
    headers = _token(client, "designer")
    response = client.get(f"{API}/{PROCESS}/versions/1/files/linear_review.bpmn", headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert 'name="受理初审"' in response.get_data(as_text=True)
    missing = client.get(f"{API}/{PROCESS}/versions/1/files/x.bpmn", headers=headers)
    assert missing.status_code == 404 and missing.json["error"] == "definition_file_not_found"


def test_semantic_diff(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get(f"{API}/{PROCESS}/diff?from=1&to=2", headers=_token(client, "designer")).json
    assert (body["from"], body["to"], body["identical"], body["summary"]) == (1, 2, False, None)
    assert body["counts"] == {"added": 0, "removed": 0, "changed": 1}
    [file] = body["files"]
    [element] = file["elements"]
    assert (element["element_id"], element["kind_name"], element["status"]) == ("intake_check", "用户任务", "changed")
    assert {"key": "name", "label": "名称", "before": "受理初审", "after": "受理与初审"} in element["changes"]
    assert file["text_diff"].startswith("--- linear_review.bpmn（第 1 版）")


@pytest.mark.parametrize(("query", "status", "code"), [
    ("", 422, "compare_invalid"), ("?from=x&to=1", 422, "compare_invalid"), ("?from=1&to=1", 422, "compare_invalid"),
    ("?from=1&to=5", 404, "definition_version_not_found"),
])
def test_bad_diff_parameters(client, query, status, code) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"{API}/{PROCESS}/diff{query}", headers=_token(client, "auditor"))
    assert response.status_code == status and response.json["error"] == code and response.json["message"]
    if status == 422:
        assert response.json["details"]["fields"]


def test_unknown_process_and_version_are_404(client) -> None:  # type: ignore[no-untyped-def]
    headers = _token(client, "auditor")
    assert client.get(f"{API}/nope", headers=headers).json["error"] == "process_not_found"
    response = client.get(f"{API}/{PROCESS}/versions/3", headers=headers)
    assert response.status_code == 404 and response.json["error"] == "definition_version_not_found"


@pytest.mark.parametrize("path", ["", f"/{PROCESS}", f"/{PROCESS}/versions/1",
                                  f"/{PROCESS}/versions/1/files/linear_review.bpmn", f"/{PROCESS}/diff?from=1&to=2"])
def test_other_roles_are_refused(client, path) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"{API}{path}", headers=_token(client, "cy_reviewer"))
    assert response.status_code == 403 and response.json["error"] == "definition_role_required"
    assert client.get(f"{API}{path}").status_code == 401


def test_openapi_describes_the_operations(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/process-definitions", "/process-definitions/{process_id}",
                 "/process-definitions/{process_id}/versions/{version}",
                 "/process-definitions/{process_id}/versions/{version}/files/{filename}",
                 "/process-definitions/{process_id}/diff"):
        assert "get" in paths[path], path
