"""The in-memory copy of committed workflows: used only when it is exactly what the database holds."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.db import make_engine
from engine.runtime import BpmnRuntime
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from tests.conftest import T0
from tests.conftest import read_files


class Counting(BpmnRuntime):
    loads = 0

    def load(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.loads += 1
        return super().load(*args, **kwargs)


@pytest.fixture
def setup(committing_url):  # type: ignore[no-untyped-def]
    engine = make_engine(committing_url)
    clock = FixedClock(T0)

    def run(runtime, fn, commit=True):  # type: ignore[no-untyped-def]
        with Session(engine, expire_on_commit=False) as session:
            result = fn(EngineContext(session, runtime, clock))
            session.commit() if commit else session.rollback()
            return result

    first = Counting(clock)
    run(first, lambda ctx: deploy_files(ctx, read_files("linear_review.bpmn"), actor=Actor("d")))
    instance_id = run(first, lambda ctx: start_instance(ctx, "linear_review", actor=Actor("a")).id)
    yield run, first, instance_id, clock
    engine.dispose()


def _complete(ctx, instance_id, who):  # type: ignore[no-untyped-def]
    task = list_open_tasks(ctx, instance_id=instance_id)[0]
    data = {} if task.bpmn_id == "intake_check" else {"decision": "return", "reason": "补充材料"}
    complete_task(ctx, task.id, data, actor=Actor(who))
    return task.bpmn_id


def test_next_command_reuses_the_committed_workflow(setup) -> None:  # type: ignore[no-untyped-def]
    run, runtime, instance_id, _ = setup
    for who in ("u1", "u2", "u3"):
        run(runtime, lambda ctx, who=who: _complete(ctx, instance_id, who))
    assert runtime.loads == 0


def test_rolled_back_work_is_not_kept(setup) -> None:  # type: ignore[no-untyped-def]
    run, runtime, instance_id, _ = setup
    run(runtime, lambda ctx: _complete(ctx, instance_id, "u1"), commit=False)
    # the rolled-back completion must not be visible: intake_check is still open
    assert run(runtime, lambda ctx: _complete(ctx, instance_id, "u1")) == "intake_check"
    assert runtime.loads == 1  # restored from the database, not from memory
    assert run(runtime, lambda ctx: _complete(ctx, instance_id, "u2")) == "review"


def test_a_change_by_another_process_forces_a_reload(setup) -> None:  # type: ignore[no-untyped-def]
    run, runtime, instance_id, clock = setup
    other = Counting(clock)  # a second web process or worker
    run(runtime, lambda ctx: _complete(ctx, instance_id, "u1"))
    run(other, lambda ctx: _complete(ctx, instance_id, "u2"))  # review, returned
    assert other.loads == 1
    assert run(runtime, lambda ctx: _complete(ctx, instance_id, "u3")) == "intake_check"
    assert runtime.loads == 1  # its cached copy was one version behind
