"""Bad input to the JSON API gets a clear refusal, never a server error, and writes nothing (DESIGN, Web and API).

On the seeded demo world (fixture ``fuzz_demo_app``, ``tests/web/demo_world.py``: on SQLite and, with
``HEDUI_TEST_DATABASE_URL``, on a PostgreSQL clone of the demo too, where what SQLite stores but PostgreSQL
refuses (an id of 2**31, a NUL, an over-long text) would be a 500), signed in with a token as a user
who may call each operation, every POST/DELETE operation of the OpenAPI document receives bodies that are not
JSON or not a JSON object, the wrong content type, an empty object, each required field missing, each field
with a wrong type (derived from the documented request schema; integers also 2**31), 20,000-character strings,
NUL bytes and unknown fields, against a real object the user may act on; and path ids that do not exist, are
negative, huge (2**31, 2**70) or not numbers. Every GET operation gets the bad path ids too, and its documented
query parameters bad values.

Every answer must be a 4xx the operation documents, ``{"error": <snake_case>, "message": <Chinese>}``,
without a traceback, the caller's token or an ID number (PR-4), and no table may have gained a row. The
units' signed exchange endpoints (DX-7) get the same bodies, validly signed. The world is given what the demo
lacks (``tests/web/api_fuzz_objects.py``: a proposed and a registered 失信 record, a re-verification batch, a
system-mode exchange batch sent and awaiting its answer), so the mutations meet real objects. Each valid call
the mutations start from is shown to succeed on a copy of the world with the documented status and answer
(the token revocation with a token of its own, refused afterwards), so the refusals are the mutations' doing.
Row counts and copies work on either database (tests/web/demo_db.py: ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.exchange.signing import sign_request
from engine.services.demo import DEMO_PASSWORD
from tests.conftest import BPMN_DIR
from tests.engine.package_factory import make_id
from tests.web.api_fuzz_objects import UNIT
from tests.web.api_fuzz_objects import add_objects
from tests.web.api_fuzz_objects import answer_and_notice
from tests.web.api_fuzz_objects import credit_number
from tests.web.api_fuzz_objects import recheck_batch_no
from tests.web.api_probe import body_mutations
from tests.web.api_probe import path_values
from tests.web.api_probe import query_mutations
from tests.web.api_probe import raw_bodies
from tests.web.demo_db import RowCounter
from tests.web.demo_db import close_world
from tests.web.demo_db import copy_world
from tests.web.demo_world import ID_NUMBER
from tests.web.test_api_cases import _body as entrustment_body
from tests.web.test_login import login
from web.api import blueprint  # noqa: F401  (registers the operations the document lists)
from web.api.openapi import document
from web.input_guard import NUL_MESSAGE

SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
PARAM = re.compile(r"\{([^}]+)\}")
#: refusals kept on record on purpose (SD-3: an answer no filed unit officer released), and where
RECORDED_REFUSALS = {"unit_officer_missing", "unit_officer_unknown", "unit_officer_unregistered",
                     "unit_officer_not_valid"}
RECORDED_TABLES = {"events", "exchange_nonces"}
#: a diagram the demo has deployed: deploying it again is valid (and changes nothing)
DIAGRAM = BPMN_DIR / "decision_feedback.bpmn"


@dataclass
class Target:
    """An operation's valid call: who, on which object, with what body (the mutations start from it)."""

    user: str | None
    params: dict[str, str]
    body: dict[str, Any] | None = None
    #: a call that makes the valid call valid (release what was claimed)
    before: str | None = None
    #: the sharing unit whose key signs the request (system-mode exchange, ``engine.exchange.signing``)
    signer: str | None = None
    #: the valid call signs in as this user for a token of its own, refused once the call is made (the
    #: mutations send none: a junk body must not revoke the world's tokens)
    signs_in: str | None = None
    #: what the valid call's JSON answer must hold (``{}``: no body at all)
    expect: dict[str, Any] | None = None


def _open_task(ctx: Any, form_key: str) -> str:
    from engine.models import HumanTask
    from engine.models import HumanTaskStatus

    return ctx.session.execute(select(HumanTask.id).where(
        HumanTask.form_key == form_key, HumanTask.status == HumanTaskStatus.OPEN)).scalars().first()


def _decision_case(ctx: Any) -> str:
    from engine.models import HumanTask
    from engine.models import HumanTaskStatus
    from engine.models import WorkflowInstance

    return ctx.session.execute(select(WorkflowInstance.business_key).join(
        HumanTask, HumanTask.instance_id == WorkflowInstance.id).where(
        HumanTask.bpmn_id == "record_decision", HumanTask.status == HumanTaskStatus.OPEN)).scalars().first()


def _recheckable(ctx: Any) -> str:
    """A case of 红旗街道's with a report and no recheck yet."""
    from engine.models import Recheck
    from engine.models import Report
    from engine.models.case import Household

    return ctx.session.execute(select(Household.case_no).join(Report, Report.case_no == Household.case_no).where(
        Household.id.not_in(select(Recheck.original_household_id))).order_by(Household.id)).scalars().first()


def targets(app: Flask) -> dict[tuple[str, str], Target]:
    """A valid call of every POST/DELETE operation in the demo world (objects looked up, not assumed)."""
    ctx = app.extensions["hedui"].new_context()
    try:
        intake, decision_case, recheckable = _open_task(ctx, "intake_check"), _decision_case(ctx), _recheckable(ctx)
        proposed, registered = credit_number(ctx, "proposed"), credit_number(ctx, "registered")
        batch, (answer, notice) = {"batch_no": recheck_batch_no(ctx)}, answer_and_notice(ctx)
    finally:
        ctx.session.close()
    complaint = {"complaint_no": "JB-CY-MZJ-2026-000001"}
    return {
        ("post", "/tokens"): Target(None, {}, {"username": "cy_intake", "password": DEMO_PASSWORD}),
        ("delete", "/tokens/current"): Target(None, {}, signs_in="cy_intake", expect={}),
        ("post", "/entrustments"): Target("hq_street_clerk", {}, entrustment_body(1)),
        ("post", "/cases/{case_no}/decision"): Target("hq_street_clerk", {"case_no": decision_case},
                                                       {"assistance_decision": "approved", "decided_on": "2026-11-20"}),
        ("post", "/cases/{case_no}/replay"): Target("auditor", {"case_no": "HD-CY-HDZX-2026-000001"}),
        ("post", "/complaints"): Target("hq_street_clerk", {}, {
            "receiving_unit": "HQ-MZB", "received_at": "2026-11-20T10:00:00", "content": "反映某户有车辆未申报",
            "channel": "online", "complainant_name": "张测试", "case_no": "HD-CY-HDZX-2026-000001"}),
        ("post", "/complaints/{complaint_no}/refer"): Target("cy_assistance", complaint, {
            "case_no": "HD-CY-HDZX-2026-000007", "reason": "举报属实待复核"}),
        ("post", "/complaints/{complaint_no}/dismiss"): Target("cy_assistance", complaint,
                                                               {"reason": "举报内容与本案无关"}),
        ("post", "/complaints/{complaint_no}/close"): Target("cy_assistance", complaint, {"reply": "已答复举报人"}),
        ("post", "/credit-records/lookup"): Target("cy_intake", {}, {"id_number": make_id_number()}),
        ("post", "/credit-records/{number}/decision"): Target("cy_mzj_head", {"number": proposed},
                                                              {"decision": "approve"},
                                                              expect={"number": proposed, "state": "registered"}),
        ("post", "/credit-records/{number}/revoke"): Target("cy_mzj_head", {"number": registered},
                                                            {"reason": "申诉成立"},
                                                            expect={"number": registered, "state": "revoked"}),
        ("post", "/cross-city/gather"): Target("cc_reviewer", {}, {"city_agency": "CC-HDZX"}),
        ("post", "/process-definitions/lint"): Target("designer", {}, {"files": {"a.bpmn": "<definitions/>"}}),
        ("post", "/process-definitions"): Target("designer", {}, {"files": {DIAGRAM.name: DIAGRAM.read_text()}}),
        ("post", "/recheck-batches"): Target("hq_street_clerk", {}, {
            "entrusting_unit": "HQ-MZB", "agency_unit": "CY-HDZX", "title": "年度复核",
            "case_nos": ["HD-CY-HDZX-2026-000004"]}),
        ("post", "/recheck-batches/{batch_no}/pause"): Target("cy_assistance", batch, expect={"status": "paused"}),
        ("post", "/recheck-batches/{batch_no}/resume"): Target(
            "cy_assistance", batch, before=f"/api/v1/recheck-batches/{batch['batch_no']}/pause",
            expect={"status": "pending"}),
        ("post", "/rechecks"): Target("hq_street_clerk", {}, {
            "case_no": recheckable, "initiating_unit": "HQ-MZB", "trigger": "home_visit",
            "requester_name": "张测试", "requested_on": "2026-11-20", "reason": "入户走访发现新增收入"}),
        ("post", "/tasks/{task_id}/claim"): Target("cy_intake", {"task_id": intake}),
        ("post", "/tasks/{task_id}/release"): Target("cy_intake", {"task_id": intake},
                                                     before=f"/api/v1/tasks/{intake}/claim"),
        ("post", "/tasks/{task_id}/complete"): Target("cy_intake", {"task_id": intake},
                                                      {"data": {"decision": "accept", "materials_complete": True,
                                                                "paper_electronic_consistent": True}}),
        ("post", "/tasks/{task_id}/reassign"): Target("cy_supervisor", {"task_id": intake},
                                                      {"username": "cy_all", "reason": "人员调整"}),
        # signed by the unit whose sent batch awaits its answer (tests/web/api_fuzz_objects.py)
        ("post", "/exchange/results"): Target(None, {}, answer, signer=UNIT,
                                              expect={"status": "staged", "duplicate": False}),
        ("post", "/exchange/delay-notices"): Target(None, {}, notice, signer=UNIT, expect={"days": 3}),
    }


def make_id_number() -> str:
    return make_id(date(1980, 5, 4), 7, male=True)


#: who reads what (GET operations): a user with the role, so a bad id meets the lookup, not a role check
READERS = (("/process-definitions", "designer"), ("/stats", "cy_supervisor"), ("/cases/{case_no}/history", "auditor"),
           ("/credit-records", "cy_assistance"), ("/complaints", "cy_assistance"), ("/exchange", "cy_exchange_1"),
           ("/cross-city", "cc_reviewer"), ("/rechecks", "hq_street_clerk"), ("/recheck-batches", "hq_street_clerk"))
#: path parameter values that exist (the other parameters when one is wrong)
GOOD_PARAMS = {"case_no": "HD-CY-HDZX-2026-000001", "instance_id": "1", "process_id": "standard_verification",
               "version": "1", "filename": "standard_verification.bpmn", "which": "recheck_form"}


@dataclass
class World:
    app: Flask
    spec: dict[str, Any]
    targets: dict[tuple[str, str], Target]
    tokens: dict[str, str]
    #: every table's row count in the world's database (tests/web/demo_db.py)
    counter: RowCounter
    #: rows per table after the last request (what the next one must leave as it is)
    rows: dict[str, int] = field(default_factory=dict)

    def headers(self, user: str | None) -> dict[str, str]:
        if user is None:
            return {}
        if user not in self.tokens:
            response = self.app.test_client().post("/api/v1/tokens", json={"username": user, "password": DEMO_PASSWORD})
            assert response.status_code == 201, response.json
            self.tokens[user] = response.json["token"]
            self.rows = {}  # the sign-in wrote its own rows: count afresh
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@pytest.fixture(scope="module")
def world(fuzz_demo_app: Flask) -> Iterator[World]:
    """The demo with what it lacks added (on SQLite and on PostgreSQL: ``fuzz_demo_app``)."""
    spec = fuzz_demo_app.test_client().get("/api/v1/openapi.json").json
    add_objects(fuzz_demo_app)
    counter = RowCounter(fuzz_demo_app.config["DATABASE_URL"])
    yield World(fuzz_demo_app, spec, targets(fuzz_demo_app), {}, counter)
    counter.close()


def _problems(world: World, method: str, doc_path: str, user: str | None, url: str, label: str,
              request: dict[str, Any]) -> list[str]:
    """What is wrong with the answer to one bad request (empty: a clean, documented refusal that wrote nothing)."""
    headers = {**world.headers(user), **request.pop("headers", {})}
    signer = world.targets.get((method, doc_path), Target(None, {})).signer
    if signer:
        request, headers = _signed(world, signer, url, request, headers)
    before = world.rows or world.counter()
    try:
        response = world.app.test_client().open(url, method=method.upper(), headers=headers, **request)
    except Exception as exc:  # noqa: BLE001 - a server error propagates in testing: that is the finding
        return [f"{label}: raised {type(exc).__name__}: {str(exc)[:160]}"]
    found = []
    documented = world.spec["paths"][doc_path][method]["responses"]
    text = response.get_data().decode("utf-8", "replace")  # a PDF answered by mistake must not stop the test
    if not 400 <= response.status_code < 500:
        found.append(f"{label}: {response.status_code} {text[:160]}")
    elif str(response.status_code) not in documented:
        found.append(f"{label}: {response.status_code} not documented ({response.json and response.json.get('error')})")
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or not SNAKE.match(str(body.get("error"))) \
            or not CHINESE.search(str(body.get("message"))):
        found.append(f"{label}: body {text[:160]}")
    if "Traceback" in text or any(t in text for t in world.tokens.values()) or ID_NUMBER.search(text):
        found.append(f"{label}: traceback, token or ID number in {text[:160]}")
    world.rows = world.counter()
    changed = {t: n for t, n in world.rows.items() if before.get(t) != n}
    if changed and not (isinstance(body, dict) and body.get("error") in RECORDED_REFUSALS
                        and set(changed) <= RECORDED_TABLES):
        found.append(f"{label}: rows written {changed}")
    return found


def _signed(world: World, unit: str, url: str, request: dict[str, Any],
            headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The request as bytes with a valid signature over them (a fresh nonce each time)."""
    from engine.exchange.system_mode import unit_key
    from engine.services.org import get_unit_by_code

    if "json" in request:
        request = {"data": json.dumps(request.pop("json"), ensure_ascii=False), "content_type": "application/json"}
    data = request.get("data", b"")
    body = data.encode() if isinstance(data, str) else data
    ctx = world.app.extensions["hedui"].new_context()
    try:
        key = unit_key(ctx, get_unit_by_code(ctx, unit))
    finally:
        ctx.session.close()
    return request, {**headers, **sign_request(key, "POST", url, body, clock=world.app.config["CLOCK"])}


def _url(doc_path: str, params: dict[str, str]) -> str:
    return "/api/v1" + PARAM.sub(lambda m: params.get(m.group(1), "x"), doc_path)


SPEC = document()
#: every operation that changes something, every one with path parameters, every read (from the document:
#: an operation added later is fuzzed too, and needs its valid call in ``targets``)
WRITES = sorted((m, p) for p, ops in SPEC["paths"].items() for m in ops if m != "get")
WITH_PATH_PARAMETERS = sorted((m, p) for p, ops in SPEC["paths"].items() for m in ops if "{" in p)
READS = sorted(p for p, ops in SPEC["paths"].items() if "get" in ops)
#: valid values of the required query parameters (the bad one replaces its own)
GOOD_QUERY = {"/calendar/add-working-days": {"start": "2026-11-23", "days": "5"},
              "/process-definitions/{process_id}/diff": {"from": "1", "to": "2"}}


@pytest.mark.parametrize(("method", "doc_path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_bad_bodies_are_refused_and_write_nothing(world: World, method: str, doc_path: str) -> None:
    """Each bad body, against an object the caller may act on: a documented 4xx with a stable code."""
    target = world.targets[(method, doc_path)]
    url = _url(doc_path, target.params)
    operation = world.spec["paths"][doc_path][method]
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if target.body is None:  # an action without a body: junk bodies on a missing object
        url = _url(doc_path, {k: "zz-does-not-exist" for k in target.params})
        cases = list(raw_bodies({}))
    else:
        cases = list(body_mutations(schema, target.body))
    found = [p for label, request in cases
             for p in _problems(world, method, doc_path, target.user, url, label, request)]
    assert not found, "\n".join(found)


def _reader(doc_path: str) -> str:
    return next((user for prefix, user in READERS if doc_path.startswith(prefix)), "cy_all")


@pytest.mark.parametrize(("method", "doc_path"), WITH_PATH_PARAMETERS,
                         ids=[f"{m} {p}" for m, p in WITH_PATH_PARAMETERS])
def test_bad_path_ids_are_refused(world: World, method: str, doc_path: str) -> None:
    """Ids that do not exist, negative, huge (2**70) or not numbers: 404, never a server error."""
    target = world.targets.get((method, doc_path)) or Target(_reader(doc_path), {})
    operation = world.spec["paths"][doc_path][method]
    kinds = {p["name"]: p.get("schema", {}).get("type", "string")
             for p in operation.get("parameters", []) if p.get("in") == "path"}
    found = []
    for name in PARAM.findall(doc_path):
        for bad in path_values(kinds.get(name, "string")):
            params = {**GOOD_PARAMS, **target.params, name: bad}
            request = {"json": target.body} if target.body is not None else {}
            found += _problems(world, method, doc_path, target.user, _url(doc_path, params), f"{name}={bad[:12]}",
                               request)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("doc_path", READS)
def test_bad_query_parameters_are_refused(world: World, doc_path: str) -> None:
    """Unknown filters (page, per_page ...), limit/cursor nonsense, bad dates and choices, control characters,
    an ID number: 422 with the parameter named, nothing written."""
    operation = world.spec["paths"][doc_path]["get"]
    url = _url(doc_path, GOOD_PARAMS)
    found = [p for label, query in query_mutations(operation.get("parameters", []), make_id_number())
             for p in _problems(world, "get", doc_path, _reader(doc_path), url, label,
                                {"query_string": {**GOOD_QUERY.get(doc_path, {}), **query}})]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("method", "doc_path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_the_valid_calls_the_mutations_start_from_succeed(world: World, tmp_path_factory: pytest.TempPathFactory,
                                                          method: str, doc_path: str) -> None:
    """Each refusal above is the mutation's doing: unmutated, the call succeeds (on a copy of the demo)."""
    from web import create_app

    world.counter.close()  # no connection may stay open on a PostgreSQL database that is copied
    url = copy_world(world.app, tmp_path_factory)
    app = create_app({**{k: world.app.config[k] for k in ("ENV", "CLOCK", "SECRET_KEY")}, "DATABASE_URL": url})
    try:
        _valid_call_succeeds(world, app, method, doc_path)
    finally:
        close_world(app)


def _valid_call_succeeds(world: World, app: Flask, method: str, doc_path: str) -> None:
    target = world.targets[(method, doc_path)]
    client, headers = app.test_client(), {}
    if target.user or target.signs_in:
        token = client.post("/api/v1/tokens", json={"username": target.user or target.signs_in,
                                                    "password": DEMO_PASSWORD}).json["token"]
        headers = {"Authorization": f"Bearer {token}"}
    if target.before:
        assert client.post(target.before, headers=headers).status_code == 200
    url, request = _url(doc_path, target.params), {"json": target.body} if target.body is not None else {}
    if target.signer:
        request, headers = _signed(world, target.signer, url, request, headers)
    response = client.open(url, method=method.upper(), headers=headers, **request)
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)[:300]
    assert str(response.status_code) in world.spec["paths"][doc_path][method]["responses"]
    if target.expect == {}:
        assert response.get_data() == b""
    elif target.expect:
        answer = response.get_json(silent=True) or {}
        assert {name: answer.get(name) for name in target.expect} == target.expect
    if target.signs_in:  # revoked: the token opens nothing any more
        assert client.get("/api/v1/tasks", headers=headers).status_code == 401


def test_control_characters_and_huge_ids_never_reach_the_database(app: Flask, client: Any) -> None:
    """On both databases (PostgreSQL text holds no NUL, BIGINT ends at 2**63 - 1: either reaching the
    driver was a server error): a NUL in a path, a query string or a body, and a 2**70 id, are refused."""
    from engine.context import Actor
    from engine.services.demo import seed_demo

    ctx = app.extensions["hedui"].new_context()
    seed_demo(ctx, actor=Actor("admin", "admin"))
    ctx.session.commit()
    token = client.post("/api/v1/tokens", json={"username": "hq_street_clerk", "password": DEMO_PASSWORD}).json
    headers = {"Authorization": f"Bearer {token['token']}"}
    nul_complaint = {"receiving_unit": "HQ-MZB", "received_at": "2026-11-20T10:00:00", "content": "举报\x00内容"}
    answers = {
        "path": client.get("/api/v1/cases/HD-%00-1", headers=headers),
        "query": client.get("/api/v1/rechecks?case_no=HD-%00-1", headers=headers),
        "body": client.post("/api/v1/complaints", headers=headers, json=nul_complaint),
        "unit": client.post("/api/v1/rechecks", headers=headers, json={"initiating_unit": "HQ\x00"}),
        "huge id": client.get(f"/api/v1/reports/{2**70}.pdf", headers=headers),
        "sign-in": client.post("/api/v1/tokens", json={"username": "hq_street_clerk\x00", "password": "x"}),
    }
    browser = login(client, "hq_street_clerk\x00", DEMO_PASSWORD)  # pages refuse a NUL before any view (input_guard)
    assert browser.status_code == 422 and NUL_MESSAGE in browser.get_data(as_text=True)
    assert {name: (r.status_code, r.json["error"]) for name, r in answers.items()} == {
        "path": (404, "not_found"), "query": (422, "validation_error"), "body": (422, "validation_error"),
        "unit": (422, "validation_error"), "huge id": (404, "not_found"), "sign-in": (422, "validation_error")}


def test_a_stranger_is_refused_before_the_parameters_are_read(app: Flask, client: Any) -> None:
    """401 comes before 422: a caller without a valid token learns nothing of what the operation takes."""
    from engine.context import Actor
    from engine.services.demo import seed_demo

    ctx = app.extensions["hedui"].new_context()
    seed_demo(ctx, actor=Actor("admin", "admin"))
    ctx.session.commit()
    bad_query = "/api/v1/tasks?page=-1&limit=%C2%B2"
    assert client.get(bad_query).status_code == 401
    assert client.get(bad_query, headers={"Authorization": "Bearer not-a-token"}).json["error"] == "not_authenticated"
    token = client.post("/api/v1/tokens", json={"username": "hq_street_clerk", "password": DEMO_PASSWORD}).json
    signed_in = client.get(bad_query, headers={"Authorization": f"Bearer {token['token']}"})
    assert signed_in.status_code == 422 and set(signed_in.json["details"]["fields"]) == {"page"}
