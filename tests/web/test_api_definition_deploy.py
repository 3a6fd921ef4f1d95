"""Process designers' API (process designer tools): ``POST /api/v1/process-definitions/lint`` answers with the lint
report, ``POST /api/v1/process-definitions`` deploys for process designers only (403 otherwise), refuses files
with errors (422 ``definition_invalid``, nothing stored) and is idempotent by content."""

from __future__ import annotations

import pytest
from flask import request
from sqlalchemy import func
from sqlalchemy import select

from engine.errors import ValidationError
from engine.models import CurrentDefinition
from engine.models import Event
from engine.models import ProcessDefinition
from engine.services.demo import DEMO_PASSWORD
from tests.conftest import DATA
from tests.web.test_login import seed_region

SAMPLE = (DATA / "lint_sample.bpmn").read_text(encoding="utf-8")
NO_DOC = SAMPLE.replace("<bpmn:documentation>核对委托材料是否齐全。</bpmn:documentation>", "")
BAD = SAMPLE.replace('value="acknowledge"', 'value="no_such_form"')
LINT = "/api/v1/process-definitions/lint"
DEPLOY = "/api/v1/process-definitions"


#: the demo region, seeded once for the module
SEED_ONCE = seed_region


@pytest.fixture
def api(client):  # type: ignore[no-untyped-def]
    return client


def _token(client, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/tokens", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def _stored(app) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(definitions, deploy events) in the database."""
    session = app.extensions["hedui"].new_context().session
    try:
        definitions = session.execute(select(func.count()).select_from(ProcessDefinition)).scalar()
        events = session.execute(select(func.count()).select_from(Event).where(Event.kind == "deployed")).scalar()
        return int(definitions or 0), int(events or 0)
    finally:
        session.close()


def test_lint_answers_with_the_report_also_when_it_has_errors(api, app) -> None:  # type: ignore[no-untyped-def]
    headers = _token(api, "cy_intake")  # a question, not a command: any signed-in user may ask
    response = api.post(LINT, json={"files": {"lint_sample.bpmn": NO_DOC}}, headers=headers)
    assert response.status_code == 200
    assert response.json["ok"] is True and response.json["warnings"] == 1
    assert response.json["findings"][0]["code"] == "user_task_without_documentation"
    response = api.post(LINT, json={"files": {"lint_sample.bpmn": BAD}}, headers=headers)
    assert response.status_code == 200
    assert (response.json["ok"], response.json["errors"]) == (False, 1)
    assert response.json["findings"][0] == {
        "severity": "error", "code": "form_unknown", "message": "表单「no_such_form」不存在于 forms/",
        "filename": "lint_sample.bpmn", "element_id": "check", "line": response.json["findings"][0]["line"]}
    assert _stored(app) == (0, 0)


def test_lint_needs_a_token(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post(LINT, json={"files": {"lint_sample.bpmn": SAMPLE}})
    assert response.status_code == 401 and response.json["error"] == "not_authenticated"


def test_designer_deploys_idempotently_with_the_warnings(api, app) -> None:  # type: ignore[no-untyped-def]
    headers = _token(api, "designer")
    first = api.post(DEPLOY, json={"files": {"lint_sample.bpmn": NO_DOC}}, headers=headers)
    assert first.status_code == 201, first.json
    [deployed] = first.json["deployed"]
    assert (deployed["process_id"], deployed["version"], deployed["created"]) == ("lint_sample", 1, True)
    assert [w["code"] for w in first.json["warnings"]] == ["user_task_without_documentation"]
    again = api.post(DEPLOY, json={"files": {"lint_sample.bpmn": NO_DOC}}, headers=headers)
    assert again.status_code == 200
    assert again.json["deployed"] == [{**deployed, "created": False}]
    changed = api.post(DEPLOY, json={"files": {"lint_sample.bpmn": SAMPLE}}, headers=headers)
    assert changed.status_code == 201 and changed.json["deployed"][0]["version"] == 2
    assert changed.json["warnings"] == []
    assert _stored(app) == (2, 2)
    session = app.extensions["hedui"].new_context().session
    definition = session.get(CurrentDefinition, "lint_sample").definition
    assert (definition.version, definition.deployed_by) == (2, "designer")
    session.close()


def test_only_process_designers_deploy(api, app) -> None:  # type: ignore[no-untyped-def]
    for username in ("cy_intake", "admin"):
        response = api.post(DEPLOY, json={"files": {"lint_sample.bpmn": SAMPLE}}, headers=_token(api, username))
        assert response.status_code == 403, username
        assert response.json["error"] == "role_required" and "流程设计" in response.json["message"]
    assert _stored(app) == (0, 0)


def test_files_with_errors_are_refused_with_the_findings(api, app) -> None:  # type: ignore[no-untyped-def]
    response = api.post(DEPLOY, json={"files": {"lint_sample.bpmn": BAD.replace(
        "<bpmn:documentation>核对委托材料是否齐全。</bpmn:documentation>", "")}}, headers=_token(api, "designer"))
    assert response.status_code == 422
    assert response.json["error"] == "definition_invalid" and "未部署" in response.json["message"]
    assert [(f["severity"], f["code"]) for f in response.json["findings"]] == [
        ("error", "form_unknown"), ("warning", "user_task_without_documentation")]
    malformed = api.post(DEPLOY, json={"files": {"lint_sample.bpmn": "<bpmn:definitions>"}},
                         headers=_token(api, "designer"))
    assert malformed.status_code == 422 and malformed.json["findings"][0]["code"] == "xml_malformed"
    assert _stored(app) == (0, 0)


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({}, "files", "非空对象"),
    ({"files": {}}, "files", "非空对象"),
    ({"files": ["lint_sample.bpmn"]}, "files", "非空对象"),
    ({"files": {f"p{i}.bpmn": SAMPLE for i in range(21)}}, "files", "最多 20 个文件"),
    ({"files": {"../lint_sample.bpmn": SAMPLE}}, "files.../lint_sample.bpmn", "不含路径"),
    ({"files": {"dir\\lint_sample.bpmn": SAMPLE}}, "files.dir\\lint_sample.bpmn", "不含路径"),
    ({"files": {"lint_sample.xml": SAMPLE}}, "files.lint_sample.xml", ".bpmn 或 .dmn"),
    ({"files": {"lint_sample.bpmn": 42}}, "files.lint_sample.bpmn", "XML 文本"),
    ({"files": {"lint_sample.bpmn": "  "}}, "files.lint_sample.bpmn", "XML 文本"),
])
@pytest.mark.parametrize("path", [LINT, DEPLOY])
def test_bad_bodies_are_422_per_field(api, app, path: str, body, field: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    response = api.post(path, json=body, headers=_token(api, "designer"))
    assert response.status_code == 422 and response.json["error"] == "validation_error"
    assert fragment in response.json["details"]["fields"][field][0]
    assert _stored(app) == (0, 0)


def test_not_json_is_422(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post(LINT, data="files", content_type="text/plain", headers=_token(api, "designer"))
    assert response.status_code == 422 and response.json["error"] == "invalid_json"


def test_a_file_over_the_upload_limit_is_refused(api, app) -> None:  # type: ignore[no-untyped-def]
    """The app's request limit (HEDUI_MAX_UPLOAD_MB) bounds the body (413 before anything is read) and each file."""
    from web.api.definition_deploy import files_from_body

    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    big = SAMPLE + "<!--" + "x" * (1024 * 1024) + "-->"
    response = api.post(LINT, json={"files": {"lint_sample.bpmn": big}}, headers=_token(api, "designer"))
    assert response.status_code == 413 and response.json["error"] == "request_too_large"
    with app.test_request_context(LINT, method="POST", json={"files": {"lint_sample.bpmn": big}}):
        app.config["MAX_CONTENT_LENGTH"] = None
        request.get_json()  # the body is read (and cached) under a larger limit than the one files are held to
        app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
        with pytest.raises(ValidationError) as refused:
            files_from_body()
    assert refused.value.details["fields"]["files.lint_sample.bpmn"] == ["文件过大：不能超过 1 MB"]


def test_the_openapi_document_lists_both_operations(api) -> None:  # type: ignore[no-untyped-def]
    paths = api.get("/api/v1/openapi.json").json["paths"]
    assert "post" in paths["/process-definitions/lint"] and "post" in paths["/process-definitions"]
    assert "403" in paths["/process-definitions"]["post"]["responses"]
