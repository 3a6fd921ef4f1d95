"""The forms the seeded demo's day does not offer survive hostile input too (test_form_fuzz.py, variants 1–7).

The demo day (23 Nov) lies outside the data-exchange window (days 11–20 of the month, PS-11) and its world holds
no credit record, no re-verification batch, no second version of a process and no data package waiting to be
imported, so the walk of test_form_fuzz.py never sees the forms those offer. Here the seeded demo is moved on
to 14 Dec 09:00 with the periodic jobs run (``demo_world.moved_on``, as test_demo_crawl.py's ``later_app``)
and given, through the real services, what makes them appear: media exchange batches prepared, confirmed,
exported and answered (exchange confirm, export, the feedback-package upload and its confirmation, the delay
notice), a proposed and a registered 失信 record (decide, revoke), a re-verification batch not started yet
(pause; 继续 is the same form on another state), a second deployed version of the verification process
(activate, the migration plan's POST), and a data package uploaded and checked (run, discard). The designer's
deploy form is the answer to a 检查 of a valid diagram (``more``); the report officer reaches the demo's issued
report (更正) through 案件查询 (an opener). The walk opens up to ``PER_SHAPE`` URLs of a shape (the proposed and
the registered record share one). Every form is posted with the same variants and checked with the same
assertions (tests/web/form_fuzz_walk.py), on SQLite and on PostgreSQL (``fuzz_demo_app``: on PostgreSQL the moved-on
world is a database cloned from the module's, dropped afterwards); ``EXPECTED_ENDPOINTS`` keeps them from silently
dropping out.
Requirements: PR-4 (no change by a forged request), PS-11 (exchange window), SD-2 (two exchange officers),
DX-2/DX-5 (media exchange, delay notices), PS-8 (batch re-verification), DO-6 (data packages), DO-7 (a
corrected report), AU-1 (nothing half-recorded), AU-3 (credit records).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.services.demo import DEMO_PASSWORD
from tests.conftest import BPMN_DIR
from tests.conftest import CST
from tests.web.demo_db import close_world
from tests.web.demo_world import credit_and_batch
from tests.web.demo_world import moved_on
from tests.web.form_fuzz_kit import Form
from tests.web.form_fuzz_kit import read_forms
from tests.web.form_fuzz_walk import Openers
from tests.web.form_fuzz_walk import fuzz_everyone
from tests.web.test_login import login

#: a working day inside the exchange window of the Jilin profile (days 11–20)
DAY = datetime(2026, 12, 14, 9, 0, tzinfo=CST)
#: the users who see the forms below (the others' forms test_form_fuzz.py already posts)
USERS_UNDER_TEST = ("cy_exchange_1", "cy_exchange_2", "cy_assistance", "cy_mzj_head", "cy_reporter",
                    "hq_street_clerk", "designer")
#: the forms this world must offer (a form that stops appearing is a gap in the fuzzing, not a pass)
EXPECTED_ENDPOINTS = frozenset({
    "exchange.confirm", "exchange.export", "exchange.upload", "exchange.delay", "exchange.confirm_upload",
    "credit.decide", "credit.revoke", "rechecks.batch_action", "reports.report_supersede",
    "designer.activate", "designer_edit.deploy", "designer_migrate.migrate",
    "cases.run_import", "cases.discard_import"})
#: URLs of one shape the walk opens: a proposed and a registered credit record, the versions of a process
PER_SHAPE = 3


@pytest.fixture(scope="module")
def more_app(fuzz_demo_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The demo on 14 Dec with the periodic jobs run, and the objects that make the forms appear."""
    app, _ = moved_on(fuzz_demo_app, tmp_path_factory, DAY)
    try:
        with app.app_context():
            ctx = app.extensions["hedui"].new_context()
            try:
                _exchange(ctx)
                credit_and_batch(ctx)
                _second_version(ctx)
                ctx.session.commit()
            finally:
                ctx.session.close()
        _package_awaiting_import(app)
        yield app
    finally:
        close_world(app)


def _exchange(ctx: Any) -> None:
    """Cases exchanging by media: a batch prepared by 钱红 (孙强 confirms it), one confirmed and exported (its
    feedback package may be uploaded; its requests wait, a delay notice may be filed), one answered and staged
    (the second officer confirms it), one confirmed and not yet exported (export)."""
    from engine.exchange.batches import confirm_batch
    from engine.exchange.batches import prepare_batch
    from engine.exchange.media_mode import export_batch
    from engine.exchange.media_mode import stage_package
    from engine.exchange.simulate import answer_package
    from tests.engine.exchange_factory import case_in_exchange
    from tests.engine.exchange_factory import officer

    first, second = officer(ctx, "cy_exchange_1"), officer(ctx, "cy_exchange_2")
    case_in_exchange(ctx, ["CC-BDC", "CC-SCJG"], index=20)
    prepare_batch(ctx, "CC-BDC", actor=second)
    batch = prepare_batch(ctx, "CC-SCJG", actor=first)
    confirm_batch(ctx, batch.id, actor=second)
    export_batch(ctx, batch.id, BytesIO(), actor=first)
    case_in_exchange(ctx, ["CC-SCJG"], index=21)
    answered = prepare_batch(ctx, "CC-SCJG", actor=second)
    confirm_batch(ctx, answered.id, actor=first)
    export_batch(ctx, answered.id, BytesIO(), actor=second)
    stage_package(ctx, BytesIO(answer_package(ctx, answered)), actor=second)
    case_in_exchange(ctx, ["CC-BANK"], index=22)
    confirm_batch(ctx, prepare_batch(ctx, "CC-BANK", actor=first, mode="media").id, actor=second)




def _second_version(ctx: Any) -> None:
    """Version 2 of the verification diagram: the demo's running cases stay on version 1 (activate, migrate)."""
    from engine.services.deploy import deploy_files
    from tests.engine.recheck_factory import as_user

    deploy_files(ctx, {"standard_verification.bpmn": _edited_diagram()}, actor=as_user(ctx, "designer"),
                 reason="测试：第二个版本")


def _edited_diagram() -> bytes:
    text = (BPMN_DIR / "standard_verification.bpmn").read_text(encoding="utf-8")
    edited = text.replace("<bpmn:documentation>", "<bpmn:documentation>（第二版）", 1)
    assert edited != text
    return edited.encode("utf-8")


def _package_awaiting_import(app: Flask) -> None:
    """A valid data package uploaded by the street clerk, checked and awaiting 导入 (run, discard)."""
    from tests.engine.package_factory import synthetic_package

    client = app.test_client()
    assert login(client, "hq_street_clerk", DEMO_PASSWORD).status_code == 302
    page = client.get("/cases/import").get_data(as_text=True)
    [form] = [f for f in read_forms("/cases/import", page) if f.multipart]
    data: dict[str, Any] = dict(form.pairs())
    data["package"] = (BytesIO(synthetic_package(2).to_zip()), "package.zip")
    response = client.post(form.action, data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def _deploy_form(client: FlaskClient) -> list[Form]:
    """The designer's 部署 form: the answer to a 检查 of a valid diagram (a third version)."""
    page = client.get("/designer/edit/").get_data(as_text=True)
    [check] = [f for f in read_forms("/designer/edit/", page) if f.multipart]
    data: dict[str, Any] = dict(check.pairs())
    text = _edited_diagram().decode("utf-8").replace("（第二版）", "（第三版）", 1)
    data["files"] = (BytesIO(text.encode("utf-8")), "standard_verification.bpmn")
    response = client.post(check.action, data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return read_forms(check.action, response.get_data(as_text=True))


def _reported_case(app: Flask) -> str:
    """The case number of the demo's first issued 核对报告 (its 更正 form)."""
    from engine.models import Report

    ctx = app.extensions["hedui"].new_context()
    try:
        return str(ctx.session.execute(select(Report.case_no).order_by(Report.id).limit(1)).scalar_one())
    finally:
        ctx.session.close()


def test_the_forms_outside_the_demo_day_survive_hostile_input(more_app: Flask) -> None:
    """The module docstring: every form of this world, the variants of test_form_fuzz.py."""
    # the report officer finds an issued report through 案件查询 (his nav offers no list of reports)
    openers: Openers = {"cases.run_search": (1, {"q": _reported_case(more_app)})}
    fuzz_everyone(more_app, USERS_UNDER_TEST, openers, EXPECTED_ENDPOINTS, more={"designer": _deploy_form},
                  per_shape=PER_SHAPE)
