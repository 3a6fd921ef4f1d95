"""The case's statutory deadline as a column (PS-10, AU-4): ``workflow_instances.due_at``.

``standard_verification`` declares ``instanceDueVariable = verification_due`` on its process; every
save copies that variable into the column (timezone-aware UTC). Checked against the working-day
calendar across the 2026 National Day holiday, through save/reload, and the 0015 backfill that reads
the stored state JSON.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy import update

from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.case_due import case_due
from engine.context import Actor
from engine.context import EngineContext
from engine.deadlines import instance_due_at
from engine.errors import DeploymentError
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance

ROOT = Path(__file__).parents[2]
BPMN = ROOT / "bpmn" / "standard_verification.bpmn"
MIGRATION = ROOT / "migrations" / "versions" / "20261206_1100_0015_add_instance_due_at.py"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DESIGNER = Actor("designer", "process_designer")
INTAKE = Actor("li_intake", "intake_officer")
#: Monday 28 September 2026: the National Day holiday (1–7 October, 10 October a make-up working day) follows
MONDAY = datetime(2026, 9, 28, 9, 0, tzinfo=SHANGHAI)
INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def _eod(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=SHANGHAI)


@pytest.fixture
def deployed(ctx: EngineContext, session: Any, clock: Any) -> EngineContext:
    seed_calendar(session, [2026], clock=clock)
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=DESIGNER)
    clock.set(MONDAY)
    return ctx


def _start(ctx: EngineContext, case_no: str = "HD-2026-0900", **data: Any) -> WorkflowInstance:
    payload = {"case_no": case_no, "subject_ids": [1], "sharing_units": ["bank_a"], **data}
    instance = start_instance(ctx, "standard_verification", actor=INTAKE, business_key=case_no, data=payload)
    ctx.session.expire_all()
    return instance


def _stored_due(ctx: EngineContext, instance_id: int) -> datetime | None:
    return ctx.session.execute(select(WorkflowInstance.due_at).where(WorkflowInstance.id == instance_id)).scalar_one()


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0015", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_county_case_gets_10_working_days_across_the_holiday(deployed: EngineContext) -> None:
    """PS-10: a county agency has 10 working days; 1–7 October are not counted, Saturday 10 October is."""
    ctx = deployed
    calendar = WorkingCalendar(ctx.session)
    assert not calendar.is_workday(date(2026, 10, 1)) and calendar.is_workday(date(2026, 10, 10))
    instance = _start(ctx)
    expected = _eod(2026, 10, 16)
    assert calendar.deadline(MONDAY, 10) == expected
    stored = _stored_due(ctx, instance.id)
    assert stored == expected and stored is not None and stored.tzinfo == UTC
    data = load_workflow(ctx, instance).task_data(list_open_tasks(ctx, instance_id=instance.id)[0].id)
    assert isinstance(data["verification_due"], str)  # the script stores an ISO string with its offset
    assert instance_due_at(data["verification_due"]) == expected

    # save and reload: the next command keeps it (and reads it back from the stored state)
    ctx.runtime.saved_limit = 0
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, task.id, INTAKE_OK, actor=INTAKE)
    ctx.session.expire_all()
    assert [t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance.id)] == ["review"]
    assert _stored_due(ctx, instance.id) == expected


@pytest.mark.parametrize("data", [{"from_lower_agency": True}, {"verification_days": 15}],
                         ids=["entrusted-upward", "re-verification"])
def test_upper_and_recheck_cases_get_15_working_days(deployed: EngineContext, data: dict[str, Any]) -> None:
    """PS-10: a check entrusted upward and a re-verification (``reverification_days``) have 15 working days."""
    instance = _start(deployed, **data)
    assert WorkingCalendar(deployed.session).deadline(MONDAY, 15) == _eod(2026, 10, 23)
    assert _stored_due(deployed, instance.id) == _eod(2026, 10, 23)


def test_a_finished_case_keeps_its_deadline(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _start(ctx)
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, task.id, {"decision": "return", "reason": "授权书缺少签名"}, actor=INTAKE)
    ctx.session.expire_all()
    assert instance.status.value == "completed"
    assert _stored_due(ctx, instance.id) == _eod(2026, 10, 16)


def test_a_diagram_without_the_property_leaves_the_column_empty(ctx: EngineContext, deploy: Any) -> None:
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, data={"verification_due": "2026-12-01"})
    assert instance.due_at is None


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-10-16T23:59:59.999999+08:00", datetime(2026, 10, 16, 15, 59, 59, 999999, tzinfo=UTC)),
    (_eod(2026, 10, 16), datetime(2026, 10, 16, 15, 59, 59, 999999, tzinfo=UTC)),
    (datetime(2026, 10, 16, 12, 0), datetime(2026, 10, 16, 4, 0, tzinfo=UTC)),  # naive: Beijing time
    (date(2026, 10, 16), datetime(2026, 10, 16, 15, 59, 59, 999999, tzinfo=UTC)),
    ("2026-10-16", datetime(2026, 10, 16, 15, 59, 59, 999999, tzinfo=UTC)),
    ("not a date", None), (None, None), (17, None),
])
def test_the_variable_may_be_a_string_a_datetime_or_a_date(value: Any, expected: datetime | None) -> None:
    assert instance_due_at(value) == expected


@pytest.mark.parametrize(("prop", "message"), [
    ('name="instanceDueVariable" value="verification due"', "instanceDueVariable 须为数据变量名"),
    ('name="instanceDueVariabel" value="verification_due"', "未知的流程属性 instanceDueVariabel"),
])
def test_deploy_refuses_a_bad_process_property(ctx: EngineContext, prop: str, message: str) -> None:
    text = BPMN.read_text(encoding="utf-8").replace('name="instanceDueVariable" value="verification_due"', prop)
    with pytest.raises(DeploymentError) as info:
        deploy_files(ctx, {BPMN.name: text.encode("utf-8")}, actor=DESIGNER)
    assert message in str(info.value) and "[standard_verification]" in str(info.value)


def test_the_migration_backfills_from_the_stored_state(deployed: EngineContext) -> None:
    """0015: instances running and finished get the value their state holds; unreadable states are skipped."""
    ctx = deployed
    running, upper, returned, broken = (_start(ctx, f"HD-2026-09{i:02d}", **d) for i, d in
                                        enumerate([{}, {"from_lower_agency": True}, {}, {}]))
    [task] = list_open_tasks(ctx, instance_id=returned.id)
    complete_task(ctx, task.id, {"decision": "return", "reason": "授权书缺少签名"}, actor=INTAKE)
    ids = [running.id, upper.id, returned.id, broken.id]
    before = {i: _stored_due(ctx, i) for i in ids}
    assert None not in before.values()
    ctx.session.execute(update(WorkflowInstance).where(WorkflowInstance.id.in_(ids)).values(due_at=None))
    ctx.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == broken.id).values(state="{not json"))
    # a definition deployed before the property existed: found from its files, then by its process id
    ctx.session.execute(update(ProcessDefinition).values(task_catalogue={"user_tasks": []}))
    ctx.session.expire_all()

    assert _migration().backfill_due_at(ctx.session.connection(), batch_size=2) == 3
    ctx.session.expire_all()
    after = {i: _stored_due(ctx, i) for i in ids}
    assert after == {**before, broken.id: None}
    assert after[upper.id] == _eod(2026, 10, 23) and after[running.id] == _eod(2026, 10, 16)


def test_case_standing_in_working_days(deployed: EngineContext) -> None:
    """The case page's texts: days left, due today, working days overdue, finished in time or late."""
    calendar = WorkingCalendar(deployed.session)
    due = _eod(2026, 10, 16)  # Friday

    def text(now: datetime, finished: datetime | None = None) -> str:
        standing = case_due(due, finished=finished, now=now, calendar=calendar)
        assert standing is not None
        return standing.text

    assert text(MONDAY) == "还剩 10 个工作日"
    assert text(datetime(2026, 10, 16, 8, 0, tzinfo=SHANGHAI)) == "今日到期"
    assert text(datetime(2026, 10, 17, 8, 0, tzinfo=SHANGHAI)) == "已逾期"  # Saturday: no working day yet
    assert text(datetime(2026, 10, 20, 8, 0, tzinfo=SHANGHAI)) == "已逾期 2 个工作日"
    assert text(MONDAY, finished=datetime(2026, 10, 16, 17, 0, tzinfo=SHANGHAI)) == "已于期限内完成"
    assert text(MONDAY, finished=datetime(2026, 10, 19, 9, 0, tzinfo=SHANGHAI)) == "逾期完成"
    assert case_due(None, finished=None, now=MONDAY, calendar=calendar) is None
