"""The ``hedui`` commands, run through Flask's CLI runner inside the test transaction."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from engine.models import Event
from engine.models import Membership


def test_bpmn_deploy_is_idempotent_and_reports_errors(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import DATA

    result = runner.invoke(args=["bpmn", "deploy", str(DATA / "linear_review.bpmn")])
    assert result.exit_code == 0 and "linear_review v1" in result.output and "新版本" in result.output
    result = runner.invoke(args=["bpmn", "deploy", str(DATA / "linear_review.bpmn")])
    assert result.exit_code == 0 and "未变化" in result.output
    bad = tmp_path / "linear_review.bpmn"
    bad.write_text((DATA / "linear_review.bpmn").read_text().replace('value="acknowledge"', 'value="nope"'))
    result = runner.invoke(args=["bpmn", "deploy", str(bad)])
    assert result.exit_code == 1 and "linear_review.bpmn:" in result.output and "nope" in result.output


def test_org_commands(runner, app) -> None:  # type: ignore[no-untyped-def]
    ok = [
        ["regions", "create", "650000", "示例省", "--level", "province"],
        ["regions", "create", "650100", "示例市", "--level", "city", "--parent", "650000"],
        ["units", "create", "SL-HDZX", "示例市核对中心", "--kind", "verification_agency", "--region", "650100"],
        ["users", "create", "sl_intake", "--name", "示例 受理员", "--password", "secret-pass-1"],
        ["users", "grant", "sl_intake", "SL-HDZX", "intake_officer"],
    ]
    for args in ok:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output, repr(result.exception))
    result = runner.invoke(args=["units", "create", "X", "乡镇核对中心", "--kind", "verification_agency",
                                 "--region", "999999"])
    assert result.exit_code == 1 and "所属区划不存在" in result.output
    result = runner.invoke(args=["users", "grant", "sl_intake", "SL-HDZX", "no_such_role"])
    assert result.exit_code == 1 and "no_such_role" in result.output
    session = app.extensions["hedui"].new_context().session
    assert session.execute(select(Membership.role_code)).scalars().all() == ["intake_officer"]
    kinds = session.execute(select(Event.kind).where(Event.stream == "system").order_by(Event.seq)).scalars().all()
    assert kinds == ["region_created", "region_created", "unit_created", "user_created", "role_granted"]
    assert "sl_intake" in runner.invoke(args=["users", "list"]).output


def test_units_set_phone(runner, app) -> None:  # type: ignore[no-untyped-def]
    """DO-5: the agency phone the upward 委托书 prints is set (and checked) from the CLI."""
    from engine.models import Unit

    runner.invoke(args=["regions", "create", "650000", "示例省", "--level", "province"])
    result = runner.invoke(args=["units", "create", "SL-HDZX", "示例省核对中心", "--kind", "verification_agency",
                                 "--region", "650000", "--phone", "0991-1234567"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["units", "set-phone", "SL-HDZX", "九九一"])
    assert result.exit_code == 1 and "联系电话格式不正确" in result.output
    result = runner.invoke(args=["units", "set-phone", "SL-HDZX", "0991-7654321"])
    assert result.exit_code == 0, result.output
    session = app.extensions["hedui"].new_context().session
    assert session.execute(select(Unit.contact_phone).where(Unit.code == "SL-HDZX")).scalar_one() == "0991-7654321"
    assert runner.invoke(args=["units", "set-phone", "SL-HDZX"]).exit_code == 0
    session.expire_all()
    assert session.execute(select(Unit.contact_phone).where(Unit.code == "SL-HDZX")).scalar_one() is None


def test_demo_is_idempotent(runner) -> None:  # type: ignore[no-untyped-def]
    from engine.services.demo import USERS

    first = runner.invoke(args=["demo"])
    second = runner.invoke(args=["demo"])
    # 25 staff and system accounts (county, city and province agencies: PS-5) + the filed unit-side officer
    # of each of the 9 demo sharing units (SD-3)
    assert len(USERS) == 34
    assert first.exit_code == 0 and f"新建 {len(USERS)} 个用户" in first.output
    assert second.exit_code == 0 and "新建 0 个用户" in second.output


def test_demo_cases_in_several_stages_replay_consistently(runner, app) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from engine.models import HumanTask
    from engine.models import HumanTaskStatus

    bpmn = Path(__file__).resolve().parents[2] / "bpmn"
    assert runner.invoke(args=["bpmn", "deploy", str(bpmn)]).exit_code == 0
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0 and "新建 5 个演示案件" in result.output, result.output
    assert "新建 0 个演示案件" in runner.invoke(args=["demo"]).output
    session = app.extensions["hedui"].new_context().session
    open_steps = sorted(session.execute(select(HumanTask.bpmn_id).where(
        HumanTask.status == HumanTaskStatus.OPEN)).scalars())
    # the fourth case also has a re-verification in progress: its linked case waits at 受理初审 (PS-9), and a
    # finished one whose linked case, like the fourth, waits for the entrusting department's decision (PS-12);
    # the fifth is escalated (PS-5): the county waits, its case at 长春市核对中心 is at 审核复审;
    # the sixth raised a cross-city request (PS-7), gathered into a batch at 市级审核, and exchanges its own items
    assert open_steps == ["city_review", "intake_check", "intake_check", "prepare_exchange", "record_decision",
                          "record_decision", "review", "review"]
    from engine.models import Escalation

    escalations = session.execute(select(Escalation).order_by(Escalation.id)).scalars().all()
    assert [(e.kind.value, e.status.value, e.target_agency.code) for e in escalations] == [
        ("tiered", "entrusted", "CC-HDZX"), ("cross_city", "gathered", "JL-HDZX")]
    from engine.models import Recheck
    from engine.models import Report

    finished, running = session.execute(select(Recheck).order_by(Recheck.id)).scalars().all()
    assert (running.status.value, running.trigger.value) == ("entrusted", "complaint")
    assert (finished.status.value, finished.trigger.value) == ("completed", "home_visit") and finished.result
    assert finished.original_household_id == running.original_household_id
    # PS-9, DO-8: the finished recheck's linked case issued its 复核报告, linked to the recheck
    [report] = session.execute(select(Report).where(
        Report.case_no == finished.verification_household.case_no)).scalars().all()
    assert report.kind.value == "reverification" and finished.report_no == report.number
    from engine.models.complaint import Complaint

    # AU-2: the running tip-off came from a complaint e-mailed to the street office; a phoned one waits for triage
    referred, waiting = session.execute(select(Complaint).order_by(Complaint.id)).scalars().all()
    assert (referred.channel.value, referred.status.value, referred.recheck_id) == ("email", "recheck_filed",
                                                                                   running.id)
    assert (waiting.channel.value, waiting.status.value, waiting.unit.code) == ("phone", "received", "CY-MZJ")
    counts = {model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
              for model in (Recheck, Report, HumanTask, Escalation, Complaint)}
    events = session.execute(select(func.count()).select_from(Event)).scalar_one()
    assert "新建 0 个演示案件" in runner.invoke(args=["demo"]).output  # a third run changes nothing either
    session.expire_all()
    assert counts == {model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
                      for model in (Recheck, Report, HumanTask, Escalation, Complaint)}
    assert session.execute(select(func.count()).select_from(Event)).scalar_one() == events
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
    replay = runner.invoke(args=["audit", "replay", "--all"])
    assert replay.exit_code == 0 and "0 个有问题" in replay.output, replay.output
