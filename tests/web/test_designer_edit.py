"""检查与部署 and the modeler's endpoints (designer tools): upload → check (lint) → deploy with a 部署说明.

Only process designers reach /designer/edit; what is deployed is exactly what was checked (tampering
between check and deploy is refused); bad uploads are explained per file and nothing is lost; identical
content deploys as 未变化; the JSON endpoints answer stable codes with Chinese messages.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.models import CurrentDefinition
from engine.models import Event
from engine.models import ProcessDefinition
from tests.web.inbox_cases import prepare
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import page_token

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"
ORIGINAL = BPMN.read_text(encoding="utf-8")
DUE = '<spiffworkflow:property name="dueWorkingDays" value="2" />'
#: 受理初审 with a 3-working-day limit instead of 2 (the first dueWorkingDays in the file)
CHANGED = ORIGINAL.replace(DUE, DUE.replace('"2"', '"3"'), 1)
PAGE = "/designer/edit/"
BOUNDARY = "hedui-designer-boundary"
#: the demo organisation and standard_verification v1, seeded once for the module
SEED_ONCE = prepare


@pytest.fixture
def designer(app, client):  # type: ignore[no-untyped-def]
    """The demo designer signed in (the module's seed: the demo organisation, standard_verification v1)."""
    login(client, "designer")
    return client


def _upload(client, *files: tuple[str, bytes]):  # type: ignore[no-untyped-def]
    """POST the upload form as raw multipart bytes (the test client would spool a big file it never closes)."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
             f"{page_token(client, PAGE)}\r\n".encode()]
    for name, content in files:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return client.post("/designer/edit/check", data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


def _deploy_form(html: str) -> dict[str, object]:
    """The hidden fields of the check page's 部署 form (what the browser would post back)."""
    form = html[html.index('action="/designer/edit/deploy"'):]
    fields: dict[str, object] = {"file_name": [], "file_content": []}
    for name, value in re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form):
        if name in ("file_name", "file_content"):
            fields[name].append(value)  # type: ignore[union-attr]
        else:
            fields[name] = value
    return fields


def _checked(client, text: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Upload ``text`` as standard_verification.bpmn and return the check page's 部署 form."""
    return _deploy_form(_upload(client, ("standard_verification.bpmn", text.encode("utf-8"))).get_data(as_text=True))


def _versions(app) -> list[int]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return list(session.execute(select(ProcessDefinition.version).where(
            ProcessDefinition.process_id == "standard_verification").order_by(ProcessDefinition.version)).scalars())


def _events(app, kind: str) -> list[Event]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return list(session.execute(select(Event).where(Event.kind == kind).order_by(Event.id)).scalars())


def test_upload_check_deploy_then_identical_is_unchanged(app, designer) -> None:  # type: ignore[no-untyped-def]
    """The 检查与部署 round trip: the check page carries the checked bytes; the deploy names the reason."""
    home = designer.get(PAGE)
    html = home.get_data(as_text=True)
    assert home.status_code == 200 and "检查与部署" in html
    assert_valid_html(html)
    assert 'href="/designer/edit/model/standard_verification"' in html and 'href="/designer/edit/model/new"' in html

    checked = _upload(designer, ("standard_verification.bpmn", CHANGED.encode("utf-8")))
    page = checked.get_data(as_text=True)
    assert checked.status_code == 200 and 'data-verdict="ok"' in page and "可以部署" in page
    assert_valid_html(page)
    form = _deploy_form(page)
    assert form["file_name"] == ["standard_verification.bpmn"]
    assert base64.b64decode(form["file_content"][0]) == CHANGED.encode("utf-8")  # type: ignore[index]

    done = designer.post("/designer/edit/deploy", data={**form, "reason": "受理初审时限改为 3 个工作日"})
    result = done.get_data(as_text=True)
    assert done.status_code == 200 and "新版本 v2" in result and 'href="/designer/"' in result
    assert_valid_html(result)
    assert _versions(app) == [1, 2]
    deployed = _events(app, "deployed")[-1]
    assert deployed.actor == "designer" and deployed.payload["reason"] == "受理初审时限改为 3 个工作日"
    with app.extensions["hedui"].session_factory() as session:
        current = session.get(CurrentDefinition, "standard_verification").definition
        intake = next(t for t in current.task_catalogue["user_tasks"] if t["bpmn_id"] == "intake_check")
        assert current.version == 2 and intake["properties"]["dueWorkingDays"] == "3"

    again = _upload(designer, ("standard_verification.bpmn", CHANGED.encode("utf-8")))
    same = designer.post("/designer/edit/deploy",
                         data={**_deploy_form(again.get_data(as_text=True)), "reason": "再次部署"})
    unchanged = same.get_data(as_text=True)
    assert "未变化</span>（与 v2 相同）" in unchanged and "新版本 v" not in unchanged
    assert _versions(app) == [1, 2]


def test_errors_block_the_deploy_and_warnings_are_amber(designer) -> None:  # type: ignore[no-untyped-def]
    """Deploy-refused problems are red 错误 rows without a 部署 form; advice is an amber 警告 that allows it."""
    broken = ORIGINAL.replace('value="intake_check" />', 'value="no_such_form" />', 1)
    page = _upload(designer, ("standard_verification.bpmn", broken.encode("utf-8"))).get_data(as_text=True)
    assert 'data-verdict="errors"' in page and "不能部署" in page
    assert 'class="finding finding--error"' in page and "standard_verification.bpmn" in page
    assert 'action="/designer/edit/deploy"' not in page

    undocumented = re.sub(r'(<bpmn:userTask id="intake_check" name="受理初审">\s*)'
                          r"<bpmn:documentation>[^<]*</bpmn:documentation>",
                          r"\1", ORIGINAL, count=1)
    assert undocumented != ORIGINAL
    warned = _upload(designer, ("standard_verification.bpmn", undocumented.encode("utf-8"))).get_data(as_text=True)
    assert 'data-verdict="ok"' in warned
    assert 'class="finding finding--warning" data-code="user_task_without_documentation"' in warned
    assert 'action="/designer/edit/deploy"' in warned


def test_content_changed_between_check_and_deploy_is_refused(app, designer) -> None:  # type: ignore[no-untyped-def]
    form = _checked(designer, CHANGED)
    other = CHANGED.replace('name="受理初审"', 'name="受理审查"', 1).encode("utf-8")
    tampered = {**form, "file_content": [base64.b64encode(other).decode()], "reason": "偷换内容"}
    refused = designer.post("/designer/edit/deploy", data=tampered)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "与检查时不一致" in page
    assert "<strong>standard_verification.bpmn</strong>：请重新上传并检查" in page
    # a hash computed by the client for its own content was never checked by this session either
    from engine.services.deploy import content_hash

    forged = {**tampered, "checked_hash": content_hash({"standard_verification.bpmn": other})}
    assert designer.post("/designer/edit/deploy", data=forged).status_code == 409
    assert _versions(app) == [1]


def test_a_missing_reason_keeps_the_checked_files(app, designer) -> None:  # type: ignore[no-untyped-def]
    form = _checked(designer, CHANGED)
    response = designer.post("/designer/edit/deploy", data={**form, "reason": "  "})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "请填写部署说明" in page and 'aria-invalid="true"' in page
    assert _deploy_form(page)["file_content"] == form["file_content"]
    assert_valid_html(page)
    assert _versions(app) == [1]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("notes.txt", b"<x/>", "只能上传 .bpmn 或 .dmn 文件"),
    ("empty.bpmn", b"  \n", "文件是空的"),
    ("gbk.bpmn", "<a>受理</a>".encode("gbk"), "不是 UTF-8 编码"),
    ("broken.bpmn", b"<bpmn:definitions><oops></bpmn:definitions>", "不是格式正确的 XML"),
    ("huge.bpmn", b"<a>" + b" " * (2 * 1024 * 1024) + b"</a>", "文件过大"),
])
def test_bad_uploads_are_explained_by_name(designer, name, content, message) -> None:  # type: ignore[no-untyped-def]
    response = _upload(designer, (name, content), ("standard_verification.bpmn", ORIGINAL.encode("utf-8")))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "未做检查" in page
    assert f"<strong>{name}</strong>：" in page and message in page
    assert "<code>standard_verification.bpmn</code>" in page  # the good file is named back too
    assert_valid_html(page)


def test_no_file_selected_is_explained(designer) -> None:  # type: ignore[no-untyped-def]
    response = designer.post("/designer/edit/check", data={"csrf_token": page_token(designer, PAGE)},
                             content_type="multipart/form-data")
    assert response.status_code == 422 and "请选择至少一个" in response.get_data(as_text=True)


@pytest.mark.parametrize("username", ["cy_intake", "auditor", "admin"])
def test_only_process_designers_get_in(app, client, username) -> None:  # type: ignore[no-untyped-def]
    login(client, username)
    assert client.get(PAGE).status_code == 403
    assert client.get("/designer/edit/model/standard_verification").status_code == 403
    token = page_token(client)
    refused = client.post("/designer/edit/check.json", json={"files": {"a.bpmn": ORIGINAL}},
                          headers={"X-CSRF-Token": token})
    assert refused.status_code == 403 and refused.is_json
    assert refused.get_json()["error"] == "designer_role_required" and "流程设计员" in refused.get_json()["message"]
    source = client.get("/designer/edit/model/standard_verification/source")
    assert source.status_code == 403 and source.get_json()["error"] == "designer_role_required"


def test_signed_out_visitors_are_sent_to_the_login(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(PAGE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def _json(client, path: str, body: object):  # type: ignore[no-untyped-def]
    return client.post(path, json=body, headers={"X-CSRF-Token": page_token(client, PAGE)})


def test_modeler_source_check_and_deploy_json(app, designer) -> None:  # type: ignore[no-untyped-def]
    """What the modeler's script does: open the source, check the edited XML, deploy it with a reason."""
    source = designer.get("/designer/edit/model/standard_verification/source").get_json()
    assert source["filename"] == "standard_verification.bpmn" and source["version"] == 1
    assert source["xml"] == ORIGINAL and list(source["files"]) == ["standard_verification.bpmn"]

    files = {"standard_verification.bpmn": CHANGED}
    report = _json(designer, "/designer/edit/check.json", {"files": files})
    body = report.get_json()
    assert report.status_code == 200 and body["ok"] is True and body["processes"] == ["standard_verification"]
    assert body["errors"] == 0 and len(body["checked_hash"]) == 64

    no_reason = _json(designer, "/designer/edit/deploy.json", {"files": files, "checked_hash": body["checked_hash"],
                                                               "reason": ""})
    assert no_reason.status_code == 422 and no_reason.get_json()["error"] == "reason_required"
    assert no_reason.get_json()["details"]["fields"]["reason"].startswith("请填写部署说明")
    changed = _json(designer, "/designer/edit/deploy.json", {"files": {"standard_verification.bpmn": ORIGINAL},
                                                             "checked_hash": body["checked_hash"], "reason": "x"})
    assert changed.status_code == 409 and changed.get_json()["error"] == "content_changed"

    deployed = _json(designer, "/designer/edit/deploy.json", {"files": files, "checked_hash": body["checked_hash"],
                                                              "reason": "在线修改受理初审时限"})
    assert deployed.status_code == 201
    assert deployed.get_json()["deployed"] == [{"process_id": "standard_verification", "version": 2,
                                                "content_hash": body["checked_hash"], "created": True}]
    again = _json(designer, "/designer/edit/deploy.json", {"files": files, "checked_hash": body["checked_hash"],
                                                           "reason": "再次部署"})
    assert again.status_code == 200 and again.get_json()["deployed"][0]["created"] is False
    assert designer.get("/designer/edit/model/standard_verification/source").get_json()["version"] == 2


def test_json_errors_have_stable_codes(designer) -> None:  # type: ignore[no-untyped-def]
    bad = _json(designer, "/designer/edit/check.json", {"files": {"../x.bpmn": ORIGINAL, "b.bpmn": "<a"}})
    body = bad.get_json()
    assert bad.status_code == 422 and body["error"] == "invalid_files"
    assert set(body["details"]["fields"]) == {"files.../x.bpmn", "files.b.bpmn"}
    assert "路径" in body["details"]["fields"]["files.../x.bpmn"] and "XML" in body["details"]["fields"]["files.b.bpmn"]
    assert _json(designer, "/designer/edit/check.json", [1, 2]).get_json()["error"] == "invalid_request"
    assert _json(designer, "/designer/edit/check.json", {"files": {}}).get_json()["error"] == "invalid_files"
    broken = ORIGINAL.replace('value="intake_check" />', 'value="no_such_form" />', 1)
    report = _json(designer, "/designer/edit/check.json", {"files": {"standard_verification.bpmn": broken}}).get_json()
    assert report["ok"] is False and report["checked_hash"] is None and report["errors"] >= 1
    assert any(f["severity"] == "error" and f["filename"] == "standard_verification.bpmn" for f in report["findings"])
    # never checked clean: refused before anything is parsed or stored
    refused = _json(designer, "/designer/edit/deploy.json", {"files": {"standard_verification.bpmn": broken},
                                                             "checked_hash": "0" * 64, "reason": "x"})
    assert refused.status_code == 409
    missing = designer.get("/designer/edit/model/no_such_process/source")
    assert missing.status_code == 404 and missing.get_json()["error"] == "process_not_found"
    # without the CSRF header the JSON endpoints refuse like every browser POST
    assert designer.post("/designer/edit/check.json", json={"files": {"a.bpmn": ORIGINAL}}).status_code == 400


def test_modeler_pages(designer) -> None:  # type: ignore[no-untyped-def]
    page = designer.get("/designer/edit/model/standard_verification")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "在线建模" in html and "v1" in html
    assert_valid_html(html)
    for control in ("modeler-check", "modeler-deploy", "modeler-download", "modeler-undo", "modeler-redo"):
        assert f'id="{control}"' in html
    assert "vendor/bpmn-modeler.production.min.js" in html and "/designer/edit/static/panel.js" in html
    assert '"source": "/designer/edit/model/standard_verification/source"' in html and '"intake_check"' in html
    assert '{"code": "intake_officer", "name": ' in html  # lane names are role codes: offered in the panel
    blank = designer.get("/designer/edit/model/new")
    assert blank.status_code == 200 and "新流程" in blank.get_data(as_text=True)
    new_source = designer.get("/designer/edit/model/new/source").get_json()
    assert new_source["version"] is None and new_source["filename"] == "new_process.bpmn"
    assert designer.get("/designer/edit/model/no_such_process").status_code == 404
    with designer.get("/designer/edit/static/modeler.js") as script:
        assert script.status_code == 200


def test_a_blank_process_checks_and_deploys_as_version_one(app, designer) -> None:  # type: ignore[no-untyped-def]
    """The blank template is a valid start: it passes the check and deploys (as the modeler's script sends it)."""
    xml = designer.get("/designer/edit/model/new/source").get_json()["xml"]
    files = {"new_process.bpmn": xml}
    report = _json(designer, "/designer/edit/check.json", {"files": files}).get_json()
    assert report["ok"] is True and report["processes"] == ["new_process"]
    deployed = _json(designer, "/designer/edit/deploy.json", {"files": files, "checked_hash": report["checked_hash"],
                                                              "reason": "新流程草稿"})
    assert deployed.status_code == 201 and deployed.get_json()["deployed"][0]["version"] == 1
    with app.extensions["hedui"].session_factory() as session:
        assert session.execute(select(func.count()).select_from(ProcessDefinition).where(
            ProcessDefinition.process_id == "new_process")).scalar_one() == 1


def test_redeploying_an_older_content_makes_it_current_again_with_the_reason(app, designer) -> None:  # type: ignore[no-untyped-def]
    """Identical to v1: no new version, v1 is current again and the ``definition_activated`` event keeps the reason."""
    designer.post("/designer/edit/deploy", data={**_checked(designer, CHANGED), "reason": "v2"})
    back = designer.post("/designer/edit/deploy", data={**_checked(designer, ORIGINAL), "reason": "退回 v1 的时限"})
    assert "未变化</span>（与 v1 相同）" in back.get_data(as_text=True)
    assert _versions(app) == [1, 2]
    activated = _events(app, "definition_activated")[-1]
    assert activated.payload == {"process_id": "standard_verification", "version": 1, "reason": "退回 v1 的时限"}
    with app.extensions["hedui"].session_factory() as session:
        assert session.get(CurrentDefinition, "standard_verification").definition.version == 1
