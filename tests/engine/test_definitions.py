"""Designer tools, versions: overview, versions, one version, history, rollback (engine/services/definitions.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import select

from engine.context import Actor
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import verify_chain
from engine.models import Event
from engine.models import User
from engine.services import definitions as d
from engine.services.demo import seed_demo
from engine.services.instances import start_instance
from tests.engine.definitions_factory import DESIGNER
from tests.engine.definitions_factory import INTAKE
from tests.engine.definitions_factory import PROCESS
from tests.engine.definitions_factory import build
from tests.engine.definitions_factory import v1_files


@pytest.fixture
def built(ctx):  # type: ignore[no-untyped-def]
    build(ctx)
    return ctx


def _statements(ctx, run):  # type: ignore[no-untyped-def]
    connection = ctx.session.connection()
    statements: list[str] = []

    def _count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(connection, "before_cursor_execute", _count)
    try:
        run()
    finally:
        event.remove(connection, "before_cursor_execute", _count)
    return statements


def test_overview_lists_each_process_with_current_version_and_counts(built) -> None:  # type: ignore[no-untyped-def]
    [summary] = d.list_processes(built)
    assert (summary.process_id, summary.name, summary.current_version, summary.versions) == (
        PROCESS, "测试：受理与审核", 2, 2)
    assert summary.last_deployed_by == summary.last_deployed_by_name == "designer"  # no such user: the username
    assert summary.counts == d.Counts(running=2, ended=1)


def test_versions_of_a_process_carry_hash_current_marker_and_counts(built) -> None:  # type: ignore[no-untyped-def]
    detail = d.get_process(built, PROCESS)
    assert [(v.version, v.is_current, v.counts) for v in detail.versions] == [
        (2, True, d.Counts(1, 0)), (1, False, d.Counts(1, 1))]
    assert len(detail.versions[0].short_hash) == 12 and detail.current is detail.versions[0]
    assert [(h.kind, h.version, h.actor) for h in detail.history] == [("deployed", 2, "designer"),
                                                                      ("deployed", 1, "designer")]


def test_unknown_process_and_version_are_not_found(built) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError) as missing:
        d.get_process(built, "no_such_process")
    assert missing.value.code == "process_not_found"
    with pytest.raises(NotFoundError) as version:
        d.get_version(built, PROCESS, 9)
    assert version.value.code == "definition_version_not_found"
    with pytest.raises(NotFoundError) as file:
        d.get_file(built, PROCESS, 1, "other.bpmn")
    assert file.value.code == "definition_file_not_found"


def test_one_version_shows_files_user_tasks_with_role_names_and_sod(built) -> None:  # type: ignore[no-untyped-def]
    v2 = d.get_version(built, PROCESS, 2)
    assert (v2.is_current, v2.previous_version, v2.counts) == (True, 1, d.Counts(1, 0))
    [file] = v2.files
    content = d.get_file(built, PROCESS, 2, "linear_review.bpmn")
    assert file.filename == "linear_review.bpmn" and file.size == len(content.encode("utf-8"))
    assert len(file.sha256) == 64 and v2.diagram_xml == content
    tasks = {t.bpmn_id: t for t in v2.user_tasks}
    assert (tasks["intake_check"].name, tasks["intake_check"].due_working_days) == ("受理与初审", "5")
    review = tasks["review"]
    assert (review.lane, review.role_name, review.form_key) == ("review_officer", "审核复审员", "review")
    assert review.sod == {"sodNotSameAs": "intake_check", "sodRule": "SD-1"}
    assert d.get_version(built, PROCESS, 1).previous_version is None


def test_queries_run_a_fixed_number_of_statements(ctx) -> None:  # type: ignore[no-untyped-def]
    """No N+1: as many statements with 7 cases as with 3 (counts come from one GROUP BY)."""
    build(ctx)
    few = [len(_statements(ctx, lambda: d.list_processes(ctx))),
           len(_statements(ctx, lambda: d.get_process(ctx, PROCESS))),
           len(_statements(ctx, lambda: d.get_version(ctx, PROCESS, 2)))]
    for i in range(4):
        start_instance(ctx, PROCESS, actor=INTAKE, business_key=f"HD-MORE-{i}")
    ctx.session.expire_all()
    many = [len(_statements(ctx, lambda: d.list_processes(ctx))),
            len(_statements(ctx, lambda: d.get_process(ctx, PROCESS))),
            len(_statements(ctx, lambda: d.get_version(ctx, PROCESS, 2)))]
    assert few == many
    # definitions, current, counts, names (+ history events; + files, roles, previous for one version)
    assert many[:2] == [4, 5], many
    assert d.list_processes(ctx)[0].counts.running == 6


def test_rollback_makes_the_old_version_current_and_records_the_reason(built) -> None:  # type: ignore[no-untyped-def]
    result = d.activate_version(built, PROCESS, 1, actor=DESIGNER, reason="  第 2 版时限有误，先回退  ")
    assert (result.version, result.previous_version) == (1, 2)
    detail = d.get_process(built, PROCESS)
    assert detail.current is not None and detail.current.version == 1
    newest = detail.history[0]
    assert (newest.kind, newest.kind_name, newest.version, newest.reason) == (
        "definition_activated", "设为当前版本", 1, "第 2 版时限有误，先回退")
    instance = start_instance(built, PROCESS, actor=INTAKE, business_key="HD-AFTER")
    assert instance.definition.version == 1  # new cases start on the activated version
    versions = {v.version: v.counts for v in d.get_process(built, PROCESS).versions}
    assert versions[2] == d.Counts(1, 0)  # the running case stays on its version
    assert verify_chain(built.session) == []
    [ev] = built.session.execute(select(Event).where(Event.kind == "definition_activated")).scalars()
    assert ev.payload == {"process_id": PROCESS, "version": 1, "previous_version": 2,
                          "reason": "第 2 版时限有误，先回退"}


@pytest.mark.parametrize(("version", "reason", "error", "code"), [
    (2, "再次启用", InvalidStateError, "definition_already_current"),
    (7, "回退", NotFoundError, "definition_version_not_found"),
    (1, "   ", ValidationError, "activation_reason_required"),
    (1, "因" * 501, ValidationError, "activation_reason_too_long"),
])
def test_rollback_refusals_have_stable_codes(built, version, reason, error, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as refused:
        d.activate_version(built, PROCESS, version, actor=DESIGNER, reason=reason)
    assert refused.value.code == code
    assert d.get_process(built, PROCESS).current.version == 2  # type: ignore[union-attr]
    if isinstance(refused.value, ValidationError):
        assert "reason" in refused.value.details["fields"]


def test_a_reason_of_exactly_500_characters_is_accepted(built) -> None:  # type: ignore[no-untyped-def]
    d.activate_version(built, PROCESS, 1, actor=DESIGNER, reason="因" * 500)
    assert d.get_process(built, PROCESS).history[0].reason == "因" * 500


def test_only_process_designers_may_activate_auditors_may_read(built) -> None:  # type: ignore[no-untyped-def]
    seed_demo(built, actor=Actor("admin", "admin"))
    users = {u.username: u for u in built.session.execute(select(User)).scalars()}
    auditor, designer, clerk = users["auditor"], users["designer"], users["cy_intake"]
    assert d.may_read(built, auditor.id) and not d.may_activate(built, auditor.id)
    assert d.may_read(built, users["admin"].id) and not d.may_read(built, clerk.id)
    with pytest.raises(PermissionDeniedError) as refused:
        d.activate_version(built, PROCESS, 1, actor=Actor("auditor", None, auditor.id), reason="回退")
    assert refused.value.code == "definition_activate_role_required"
    d.activate_version(built, PROCESS, 1, actor=Actor("designer", None, designer.id), reason="回退")
    assert d.get_process(built, PROCESS).current.version == 1  # type: ignore[union-attr]


def test_redeploying_old_files_is_in_the_history_as_an_activation(built) -> None:  # type: ignore[no-untyped-def]
    """deploy.py's own reactivation (identical files again) shares make_current and shows in the history."""
    from engine.services.deploy import deploy_files

    deploy_files(built, v1_files(), actor=DESIGNER)
    history = d.get_process(built, PROCESS).history
    assert (history[0].kind, history[0].version, history[0].reason) == ("definition_activated", 1, None)
