"""Minimal reproductions of engine runtime problems found while modelling the real diagrams.

Each test states the expected behaviour. A known, unfixed problem is marked
``xfail(strict=True)``: the suite stays green, and the test turns red (XPASS) as soon
as the engine is fixed, so whoever fixes it removes the marker.

Fixed so far:

* a ``HeduiError`` raised by a trusted script function (the calendar's
  ``calendar_year_missing``) used to reach callers as a generic ``workflow_error``
  (``engine/runtime/core.py`` ``_map_exception`` only unwrapped ``ScriptError``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import WorkingCalendar
from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.services.deploy import deploy_files
from engine.services.instances import start_instance

_CALENDAR_SCRIPT = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs_calendar_script" targetNamespace="http://hedui.example/bpmn/test">
  <bpmn:process id="calendar_script" name="test: working-day deadline in a script" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute_due">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>due = add_working_days(now(), 7)</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute_due" />
    <bpmn:sequenceFlow id="f2" sourceRef="compute_due" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_calendar_error_raised_inside_a_script_keeps_its_code(ctx: EngineContext, clock: FixedClock) -> None:
    deploy_files(ctx, {"calendar_script.bpmn": _CALENDAR_SCRIPT}, actor=Actor("designer", "process_designer"))
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    clock.set(datetime(2027, 3, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai")))  # a year with no calendar data
    with pytest.raises(HeduiError) as info:
        start_instance(ctx, "calendar_script", actor=Actor("tester"))
    assert info.value.code == "calendar_year_missing"
