"""The diagram-code sandbox: escapes are refused, normal code works, runaway code is stopped.

No database, no Flask: the environment is exercised directly and through a real
SpiffWorkflow 3.2 run (``BpmnWorkflow`` with ``build_script_engine``).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.errors import ScriptError
from engine.errors import ScriptSecurityError
from engine.errors import ScriptTimeoutError
from engine.runtime import sandbox
from engine.runtime.sandbox import RestrictedEnvironment
from engine.runtime.sandbox import build_script_engine
from engine.runtime.sandbox import find_script_error
from engine.runtime.sandbox import source_problems

REFUSED = (ScriptSecurityError, NameError)


def add_working_days(start: str, days: int) -> str:
    return "%s+%dwd" % (start, days)


def shout(text: str) -> str:
    return text.upper() + "!"


HELPERS = {"add_working_days": add_working_days, "shout": shout}


@pytest.fixture
def env() -> RestrictedEnvironment:
    return RestrictedEnvironment(HELPERS, time_limit=1.0)


# --------------------------------------------------------------------------- 1. escapes

ESCAPES = [
    "__import__('os')",
    "open('/etc/hostname')",
    "().__class__.__base__.__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()._module.__builtins__",
    "getattr((), '__class__')",
    "'{0.__class__}'.format(1)",
    "'{0.__class__}'.format_map({})",
    "str.format('{0.__class__}', 1)",
    "(x for x in ()).gi_frame.f_globals",
    "(x for x in ()).gi_code",
    "type('x', (), {})",
    "eval('1')",
    "exec('x=1')",
    "compile('1','','eval')",
    "globals()",
    "vars()",
    "locals()",
    "dir()",
    "__builtins__",
    "(lambda: 0).__globals__['__builtins__']",
    "(lambda o: o.__class__.__mro__[-1].__subclasses__())(())",
    "(lambda s: s.format)('{0.__class__}')",
    "(lambda f: f.__globals__)(shout)",
    "shout.__globals__",
    "[].append.__self__",
    "int.mro()",
    "iter(int, 1)",
    "setattr(shout, 'x', 1)",
    "SystemExit",
    "KeyboardInterrupt",
    "BaseException",
]


@pytest.mark.parametrize("expression", ESCAPES)
def test_escape_expressions_are_refused(env: RestrictedEnvironment, expression: str) -> None:
    with pytest.raises(REFUSED):
        env.evaluate(expression, {"x": 1})


@pytest.mark.parametrize("expression", ESCAPES)
def test_escape_expressions_are_refused_in_scripts(env: RestrictedEnvironment, expression: str) -> None:
    data: dict[str, Any] = {"x": 1}
    with pytest.raises(REFUSED):
        env.execute("result = " + expression, data)
    assert data == {"x": 1}


@pytest.mark.parametrize(
    "script",
    [
        "import os",
        "from os import path",
        "import os as o\no.system('true')",
        "from os import system as s",
        "class A:\n    pass",
        "def f():\n    nonlocal y",
        "try:\n    pass\nexcept* Exception:\n    pass",
        "_secret = 1",
        "x = _getattr_",
        "def f(_a):\n    return _a",
    ],
)
def test_forbidden_statements_are_refused_at_compile_time(env: RestrictedEnvironment, script: str) -> None:
    data: dict[str, Any] = {}
    with pytest.raises(ScriptSecurityError) as info:
        env.execute(script, data)
    assert info.value.details["expression"] == script
    assert info.value.details["problems"]
    assert data == {}


def _attacks(marker: Path) -> list[str]:
    target = str(marker)
    return [
        "__import__('os').system('touch %s')" % target,
        "open(%r, 'w').write('owned')" % target,
        "b = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
        "._module.__builtins__\nb['open'](%r, 'w').write('owned')" % target,
        "f = (lambda: 0)\ng = f.__globals__\ng['__builtins__']['open'](%r, 'w')" % target,
        "'{0.__init__.__globals__}'.format(shout)\nopen(%r, 'w')" % target,
        "import os\nos.system('touch %s')" % target,
        "from os import system\nsystem('touch %s')" % target,
    ]


def test_escapes_have_no_side_effect(env: RestrictedEnvironment, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    for script in _attacks(marker):
        data: dict[str, Any] = {"applicant": "Jane"}
        with pytest.raises(REFUSED):
            env.execute(script, data)
        assert not marker.exists(), script
        assert data == {"applicant": "Jane"}, script


def test_runtime_refusal_is_a_security_error_with_the_expression(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptSecurityError) as info:
        env.evaluate("'{0.__class__}'.format(x)", {"x": 1})
    assert info.value.details["attribute"] == "format"
    assert info.value.details["expression"] == "'{0.__class__}'.format(x)"


def test_writes_only_to_plain_dicts_and_lists(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"d": {}, "items": [1]}
    env.execute("d['a'] = 1\nitems[0] = 2\nitems.append(3)", data)
    assert data == {"d": {"a": 1}, "items": [2, 3]}
    with pytest.raises(ScriptSecurityError):
        env.execute("shout.attr = 1", {})
    with pytest.raises(ScriptSecurityError):
        env.execute("t = (1,)\nt[0] = 2", {})


@pytest.mark.parametrize(
    "expression",
    [
        "range(10**7)",
        "'a' * 10**7",
        "[0] * 10**7",
        "10 ** 10 ** 10",
        "pow(10, 10**9)",
        "1 << 10**8",
        "'a' * 10**6 + 'b'",
    ],
)
def test_cheap_size_bounds(env: RestrictedEnvironment, expression: str) -> None:
    with pytest.raises(ScriptSecurityError):
        env.evaluate(expression, {})


def test_augmented_assignment_is_size_bounded(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptSecurityError):
        env.execute("x = 10\nx **= 10**9", {})
    data: dict[str, Any] = {}
    env.execute("n = 1\nn += 2\nn *= 3\nn **= 2\nitems = [1]\nalias = items\nitems += [2]", data)
    assert data["n"] == 81
    assert data["alias"] == [1, 2]  # in-place semantics are kept


# --------------------------------------------------------------------------- 2. normal code


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('decision == "accept"', True),
        ("amount > 1000 and amount <= 5000", True),
        ("applicant['address']['city']", "Hangzhou"),
        ("members[0]['name']", "Li"),
        ("len(members) > 0", True),
        ("[m['name'] for m in members if m['active']]", ["Li"]),
        ("{m['name']: m['active'] for m in members}", {"Li": True, "Wu": False}),
        ("sum(m['score'] for m in members)", 7),
        ("amount * 2 + amount // 7 - 1", 4000 + 285 - 1),
        ("name.strip().upper()", "JANE DOE"),
        ("', '.join(sorted(tags))", "a, b"),
        ("add_working_days(start, 5)", "2024-01-02+5wd"),
        ("shout(decision)", "ACCEPT!"),
        ("max(1, 2) + min([3, 4]) + abs(-1) + round(1.26, 1)", 7.3),
        ("isinstance(amount, int) and bool(tags) and str(1) + 'x' == '1x'", True),
        ("list(zip([1, 2], 'ab'))", [(1, "a"), (2, "b")]),
        ("[i for i, _ in enumerate(tags)]", [0, 1]),
        ("tuple(range(3)) + tuple(set([1]))", (0, 1, 2, 1)),
        ("any(t == 'a' for t in tags) and all(tags)", True),
        ("(lambda n: n * 2)(21)", 42),
        ("'%s-%d' % ('a', 1)", "a-1"),
        ("f'{name.strip()}:{amount}'", "Jane Doe:2000"),
        ("dict(a=1)['a'] + int('2') + float('0.5')", 3.5),
        ("None if missing is None else 1", None),
        ("2 ** 10", 1024),
    ],
)
def test_normal_expressions(env: RestrictedEnvironment, expression: str, expected: Any) -> None:
    data = {
        "decision": "accept",
        "amount": 2000,
        "applicant": {"address": {"city": "Hangzhou"}},
        "members": [{"name": "Li", "active": True, "score": 3}, {"name": "Wu", "active": False, "score": 4}],
        "name": "  Jane Doe ",
        "tags": ["b", "a"],
        "start": "2024-01-02",
        "missing": None,
    }
    assert env.evaluate(expression, data) == expected


def test_evaluate_sees_external_context_and_leaves_data_untouched(env: RestrictedEnvironment) -> None:
    data = {"a": 1}
    assert env.evaluate("a + b", data, external_context={"b": 2}) == 3
    assert data == {"a": 1}


def test_script_assigns_variables_and_helpers_do_not_leak(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"base": 3, "applicant": {"name": "jane"}}
    script = (
        "total = base * 2\n"
        "summary = {'name': shout(applicant['name']), 'due': add_working_days('2024-01-02', total)}\n"
        "steps = [i for i in range(total) if i % 2 == 0]\n"
        "steps.append(99)\n"
        "def helper(n):\n"
        "    return n + 1\n"
        "later = helper(total)\n"
        "fn = shout\n"
        "print('debug output is discarded')\n"
    )
    assert env.execute(script, data) is True
    assert data == {
        "base": 3,
        "applicant": {"name": "jane"},
        "total": 6,
        "summary": {"name": "JANE!", "due": "2024-01-02+6wd"},
        "steps": [0, 2, 4, 99],
        "later": 7,
    }
    assert not [k for k in data if k.startswith("_")]


def test_guards_are_removed_even_when_the_script_fails(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"a": 1}
    with pytest.raises(ZeroDivisionError):
        env.execute("b = 2\nc = a / 0", data)
    assert data == {"a": 1, "b": 2}


def test_task_data_cannot_replace_guards(env: RestrictedEnvironment) -> None:
    data = {"_getattr_": "x", "__builtins__": {"open": open}}
    with pytest.raises(NameError):
        env.evaluate("open('/etc/hostname')", data)


def test_compiled_code_is_cached(env: RestrictedEnvironment) -> None:
    expression = "cache_probe_value + 1"
    env.evaluate(expression, {"cache_probe_value": 1})
    before = sandbox._compile.cache_info().hits
    for i in range(5):
        assert env.evaluate(expression, {"cache_probe_value": i}) == i + 1
    assert sandbox._compile.cache_info().hits == before + 5
    assert sandbox._compile.cache_info().maxsize is not None


def test_source_problems_for_deployment_checks() -> None:
    assert source_problems("a > 1") == []
    assert source_problems("x = 1\ny = x", "exec") == []
    assert source_problems("import os", "exec")
    assert source_problems("().__class__")
    assert source_problems("a >") and "SyntaxError" in source_problems("a >")[0]


def test_invalid_helpers_are_rejected() -> None:
    with pytest.raises(ValueError):
        RestrictedEnvironment({"_hidden": shout})
    with pytest.raises(TypeError):
        RestrictedEnvironment({"value": 42})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        RestrictedEnvironment(time_limit=0)


# --------------------------------------------------------------------------- 3. time limit

RUNAWAY_SCRIPTS = [
    "while True:\n    pass",
    "x = 0\nwhile True:\n    x += 1",
    # the timeout is caught by the script itself, in a loop
    "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
    # ... or once, then the script carries on
    "try:\n    while True:\n        pass\nexcept Exception:\n    survived = True",
    "try:\n    pass\nfinally:\n    while True:\n        pass",
    "def f(n):\n    try:\n        f(n + 1)\n    except Exception:\n        pass\n    try:\n        f(n + 1)\n"
    "    except Exception:\n        pass\nf(0)",
    "def g():\n    while True:\n        yield 1\nany(x == 2 for x in g())",
    "fib = lambda n: n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(60)",
]


@pytest.mark.parametrize("script", RUNAWAY_SCRIPTS)
def test_runaway_scripts_are_stopped(script: str) -> None:
    env = RestrictedEnvironment(time_limit=0.2)
    data: dict[str, Any] = {}
    started = time.monotonic()
    with pytest.raises(ScriptTimeoutError) as info:
        env.execute(script, data)
    assert time.monotonic() - started < 3
    assert info.value.details["time_limit"] == 0.2
    assert not [k for k in data if k.startswith("_") or callable(data[k])]


@pytest.mark.parametrize(
    "expression",
    [
        "len([1 for a in range(10**6) for b in range(10**6)])",
        "sum(a * b for a in range(10**6) for b in range(10**6))",
        "sorted(range(10**6), key=lambda v: sum(range(10**5)))",
        "(lambda f: f(f, 60))(lambda f, n: n if n < 2 else f(f, n - 1) + f(f, n - 2))",
    ],
)
def test_expensive_expressions_are_stopped(expression: str) -> None:
    env = RestrictedEnvironment(time_limit=0.2)
    started = time.monotonic()
    with pytest.raises(ScriptTimeoutError):
        env.evaluate(expression, {})
    assert time.monotonic() - started < 3


def test_time_limit_works_in_a_non_main_thread() -> None:
    env = RestrictedEnvironment(time_limit=0.2)
    outcome: dict[str, BaseException | None] = {}

    def worker(name: str, run: Any) -> None:
        try:
            run()
            outcome[name] = None
        except BaseException as exc:  # noqa: BLE001 - handed back to the main thread
            outcome[name] = exc

    runs = {
        "script": lambda: env.execute("while True:\n    pass", {}),
        "expr": lambda: env.evaluate("[1 for a in range(10**6) for b in range(10**6)]", {}),
    }
    threads = [threading.Thread(target=worker, args=item) for item in runs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    assert isinstance(outcome["script"], ScriptTimeoutError)
    assert isinstance(outcome["expr"], ScriptTimeoutError)


def test_sandbox_leaves_the_trace_function_alone(env: RestrictedEnvironment) -> None:
    before = sys.gettrace()
    env.evaluate("sum(i for i in range(10))", {})
    with pytest.raises(ScriptTimeoutError):
        RestrictedEnvironment(time_limit=0.05).execute("while True:\n    pass", {})
    assert sys.gettrace() is before


def test_fast_code_within_the_limit_is_not_stopped() -> None:
    env = RestrictedEnvironment(time_limit=0.5)
    assert env.evaluate("sum(i for i in range(100000))", {}) == sum(range(100000))


# --------------------------------------------------------------------------- 4. SpiffWorkflow end to end

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="defs" targetNamespace="http://hedui.test/sandbox">
  <bpmn:process id="sandbox_proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute" />
    <bpmn:scriptTask id="compute" name="Compute">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="gw" />
    <bpmn:exclusiveGateway id="gw" default="to_low">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>to_high</bpmn:outgoing><bpmn:outgoing>to_low</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="to_high" sourceRef="gw" targetRef="high">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_low" sourceRef="gw" targetRef="low" />
    <bpmn:scriptTask id="high" name="High">
      <bpmn:incoming>to_high</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>route = 'high'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="low" name="Low">
      <bpmn:incoming>to_low</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>route = 'low'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="high" targetRef="end_high" />
    <bpmn:sequenceFlow id="f4" sourceRef="low" targetRef="end_low" />
    <bpmn:endEvent id="end_high"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_low"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

GOOD_SCRIPT = """score = points(base) + len(members)
names = [m.strip().upper() for m in members]
summary = {'count': len(names), 'due': add_working_days('2024-01-02', 3)}"""


def _escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _workflow(script: str, condition: str = "score > 10", time_limit: float = 2.0, **data: Any) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    xml = BPMN.format(script=_escape_xml(script), condition=_escape_xml(condition))
    parser.add_bpmn_str(xml.encode("utf-8"), filename="sandbox.bpmn")
    spec = parser.get_spec("sandbox_proc")
    subprocess_specs = parser.get_subprocess_specs("sandbox_proc")
    engine = build_script_engine({**HELPERS, "points": lambda n: n * 4}, time_limit=time_limit)
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
    start = wf.get_tasks(state=TaskState.READY)[0]
    start.data.update(data)
    return wf


def _completed(wf: BpmnWorkflow) -> set[str]:
    return {t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id}


@pytest.mark.parametrize(("base", "route"), [(3, "high"), (1, "low")])
def test_workflow_runs_scripts_and_conditions_in_the_sandbox(base: int, route: str) -> None:
    wf = _workflow(GOOD_SCRIPT, base=base, members=[" li ", "wu"])
    wf.do_engine_steps()
    assert wf.is_completed()
    assert wf.data["route"] == route
    assert wf.data["score"] == base * 4 + 2
    assert wf.data["names"] == ["LI", "WU"]
    assert wf.data["summary"] == {"count": 2, "due": "2024-01-02+3wd"}
    for name in ("points", "add_working_days", "shout", "__builtins__", "_getattr_", "_tick_"):
        assert name not in wf.data
    assert _completed(wf) >= {"compute", "gw", route, "end_" + route}
    assert {"high", "low"} - {route} <= {"high", "low"} - _completed(wf)


def test_workflow_script_escape_fails_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    wf = _workflow("__import__('os').system('touch %s')\nafter = 1" % marker, base=3, members=[])
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert not marker.exists()
    assert isinstance(info.value.__cause__, ScriptSecurityError)
    assert isinstance(find_script_error(info.value), ScriptSecurityError)
    assert info.value.error_type == "ScriptSecurityError"
    compute = wf.get_tasks(spec_name="compute")[0]
    assert compute.state == TaskState.ERROR
    assert "after" not in compute.data
    assert not _completed(wf) & {"gw", "high", "low", "end_high", "end_low"}


def test_workflow_condition_escape_fails() -> None:
    wf = _workflow("score = 20", condition="'{0.__class__}'.format(score) != ''", base=3, members=[])
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    error = find_script_error(info.value)
    assert isinstance(error, ScriptSecurityError)
    assert error.details["attribute"] == "format"
    assert not _completed(wf) & {"high", "low"}


def test_workflow_runaway_script_times_out() -> None:
    wf = _workflow("while True:\n    pass", base=3, members=[], time_limit=0.2)
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert isinstance(find_script_error(info.value), ScriptTimeoutError)
    assert wf.get_tasks(spec_name="compute")[0].state == TaskState.ERROR


def test_non_string_exception_arguments_are_reported() -> None:
    # upstream PythonScriptEngine crashes with TypeError on ``raise ValueError(1)``
    wf = _workflow("raise ValueError(1)", base=3, members=[])
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert "ValueError:1" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    assert find_script_error(info.value) is None


def test_find_script_error_handles_plain_and_unrelated_exceptions() -> None:
    error = ScriptTimeoutError(time_limit=1)
    assert find_script_error(error) is error
    assert find_script_error(ValueError("x")) is None
    assert find_script_error(None) is None
    try:
        try:
            raise error
        except ScriptError:
            raise RuntimeError("wrapped")  # noqa: B904 - implicit __context__ on purpose
    except RuntimeError as outer:
        assert find_script_error(outer) is error


def test_missing_attribute_raises_instead_of_returning_none(env: RestrictedEnvironment) -> None:
    with pytest.raises(AttributeError):
        env.evaluate("amount.nope", {"amount": 1})
    assert env.evaluate("amount.real", {"amount": 3}) == 3


DMN_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs_dmn" targetNamespace="http://hedui.test/sandbox">
  <bpmn:process id="dmn_proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route_case" />
    <bpmn:businessRuleTask id="route_case">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>case_routing</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f2" sourceRef="route_case" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dmn_defs" name="routing"
             namespace="http://hedui.test/sandbox">
  <decision id="case_routing" name="Case routing">
    <decisionTable id="table" hitPolicy="UNIQUE">
      <input id="in_amount" label="Amount">
        <inputExpression id="in_expr" typeRef="integer"><text>amount</text></inputExpression>
      </input>
      <output id="out_route" name="route" typeRef="string" />
      <rule id="big">
        <inputEntry id="big_in"><text>&gt;= 1000</text></inputEntry>
        <outputEntry id="big_out"><text>{big_output}</text></outputEntry>
      </rule>
      <rule id="small">
        <inputEntry id="small_in"><text>&lt; 1000</text></inputEntry>
        <outputEntry id="small_out"><text>"small"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def _dmn_workflow(big_output: str, amount: int) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(DMN_BPMN.encode("utf-8"), filename="dmn.bpmn")
    parser.add_dmn_str(DMN.format(big_output=_escape_xml(big_output)).encode("utf-8"), filename="routing.dmn")
    wf = BpmnWorkflow(
        parser.get_spec("dmn_proc"), parser.get_subprocess_specs("dmn_proc"), script_engine=build_script_engine(HELPERS)
    )
    wf.get_tasks(state=TaskState.READY)[0].data["amount"] = amount
    return wf


@pytest.mark.parametrize(("amount", "route"), [(5000, "BIG!"), (10, "small")])
def test_dmn_cells_run_in_the_sandbox(amount: int, route: str) -> None:
    wf = _dmn_workflow('shout("big")', amount)
    wf.do_engine_steps()
    assert wf.is_completed()
    assert wf.data["route"] == route
    assert "shout" not in wf.data


def test_dmn_cell_escape_fails() -> None:
    wf = _dmn_workflow("__import__('os').getpid()", 5000)
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert isinstance(find_script_error(info.value), ScriptSecurityError)
    assert "route" not in wf.get_tasks(spec_name="route_case")[0].data
