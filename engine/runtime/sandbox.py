"""The restricted environment for every expression and script a diagram contains.

Why this exists
---------------
SpiffWorkflow 3.2's default ``TaskDataEnvironment`` runs diagram code with plain
``eval``/``exec`` (notes (f), P1). That covers much more than script tasks:
gateway conditions, timer expressions, multi-instance expressions, message
payloads and correlation keys, pre/post scripts and every DMN cell are all
Python. With the default engine ``__import__('os')`` and ``open()`` run, and
the documented ``safe_globals`` recipe is escaped through
``().__class__.__base__.__subclasses__()``. Diagrams are written by process
designers, not by the operators of the server, so their code is untrusted.

What this module does
---------------------
* Compiles with RestrictedPython (``compile_restricted_eval/exec``) and an
  extended policy (:class:`_SandboxPolicy`): names and attributes starting with
  ``_`` (all dunders), frame/generator/code attributes, ``import``, classes,
  ``exec``/``eval`` calls, ``nonlocal``, ``async`` and ``except*`` are refused
  at compile time with :class:`~engine.errors.ScriptSecurityError`.
* Runs with a whitelist of builtins (no ``__import__``, ``open``, ``getattr``,
  ``type``, ``globals``, ``vars``, ``compile``, ``iter`` ...; no
  ``BaseException``/``SystemExit``/``KeyboardInterrupt`` that could kill a
  worker) and the RestrictedPython guards. Attribute access goes through
  ``safer_getattr`` (no ``_`` names, no ``str.format``); a refusal at run time
  is a ``ScriptSecurityError`` as well. Writes (``x[k] = v``, ``x.a = v``) are
  only allowed on plain ``dict``/``list`` objects.
* Exposes no module objects: helpers are passed in by name as functions.
* Caches compiled code per source string (bounded LRU).
* Enforces a time limit per call (:class:`~engine.errors.ScriptTimeoutError`).

Why the time limit does not use ``sys.settrace``
------------------------------------------------
``signal.alarm`` only works in the main thread. ``sys.settrace`` works per
thread, but CPython *uninstalls* the trace function for the whole thread as soon
as it raises, so ``try: <loop> except Exception: pass`` inside an outer loop
swallows the one timeout and then runs forever untraced; it also replaces the
tracer of coverage/debuggers while it is active. Instead the policy instruments
the code itself: every ``while`` body and every function/lambda entry calls
``_tick_()``, and every ``for``/comprehension iterates through ``_getiter_``
which ticks per item. After the deadline *every* tick raises, and every tick
sits outside any ``try`` of the loop or function it guards, so a caught timeout
can only unwind further; if user code swallows it anyway, the call still raises
``ScriptTimeoutError`` when it returns. The deadline lives in the per-call
globals, so cached code is shared safely between threads.

Cheap size bounds: ``range()`` longer than 10**6, ``+``/``*`` producing a
sequence longer than 10**6, and ``**``/``<<``/``*`` producing integers larger
than 100 000 bits are refused (``ScriptSecurityError``).

Known limits (need worker-level CPU/memory limits, see notes (f)): a single
C-level call is not interruptible and can allocate a lot, e.g.
``'x'.ljust(10**9)``, ``'%*d' % (10**9, 1)``, ``f'{1:>999999999}'``,
``str([[0] * 10**6] * 10**6)``; a loop allocating large lists may exhaust memory
before the deadline. Trusted helper functions run unrestricted and untimed.

What SpiffWorkflow does with our exceptions (3.2.0, ``python_engine.py``)
-----------------------------------------------------------------------
* ``PythonScriptEngine.evaluate`` wraps any non-Spiff exception in a
  ``WorkflowTaskException("Error evaluating expression ...", exception=e)`` and
  ``execute`` in ``WorkflowTaskException("<ClassName>:<args[0]>", ...)``. The
  original is *not* stored as an attribute (only ``error_type``, the class
  name) and not chained with ``from`` (it is only the implicit ``__context__``).
  ``execute`` also crashes with ``TypeError`` when ``args[0]`` is not a str.
* ``BpmnProcessSpec`` (process completion and data-object conditions) and
  message correlation call ``environment.evaluate`` directly: our exceptions
  reach the caller unwrapped.
* DMN re-raises the engine's ``WorkflowTaskException`` with a note.
* The task is put into ``ERROR`` state in every case.

:func:`build_script_engine` therefore returns a :class:`SandboxScriptEngine`
that wraps exactly like upstream but chains with ``raise ... from exc``, so
``wrapped.__cause__`` is our ``ScriptSecurityError``/``ScriptTimeoutError``;
:func:`find_script_error` walks ``__cause__``/``__context__`` to recover it.
"""

from __future__ import annotations

import ast
import builtins
import functools
import logging
import operator
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from types import CodeType
from typing import Any
from typing import cast

from RestrictedPython.compile import compile_restricted_eval
from RestrictedPython.compile import compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence
from RestrictedPython.Guards import guarded_unpack_sequence
from RestrictedPython.Guards import raise_
from RestrictedPython.Guards import safe_builtins
from RestrictedPython.Guards import safer_getattr
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import INSPECT_ATTRIBUTES
from RestrictedPython.transformer import RestrictingNodeTransformer
from RestrictedPython.transformer import copy_locations
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine import TaskDataEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.errors import ScriptError
from engine.errors import ScriptSecurityError
from engine.errors import ScriptTimeoutError

logger = logging.getLogger(__name__)

__all__ = [
    "RestrictedEnvironment",
    "SandboxScriptEngine",
    "build_script_engine",
    "find_script_error",
    "source_problems",
]

#: filename of compiled diagram code; SpiffWorkflow looks for it to report line numbers
_FILENAME = "<string>"
_CACHE_SIZE = 2048
MAX_ITEMS = 10**6
MAX_INT_BITS = 100_000
_EXCERPT = 200

# --------------------------------------------------------------------------- compile


class _SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus: no imports/classes, deadline ticks, size-guarded operators."""

    _GUARDED_OPS: dict[type[ast.operator], str] = {
        ast.Add: "_add_",
        ast.Mult: "_mul_",
        ast.Pow: "_pow_",
        ast.LShift: "_lshift_",
    }

    def visit_Import(self, node: ast.Import) -> ast.AST:  # noqa: N802 (ast visitor name)
        self.error(node, "import statements are not allowed.")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:  # noqa: N802
        self.error(node, "import statements are not allowed.")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:  # noqa: N802
        self.error(node, "class definitions are not allowed.")
        return node

    def visit_While(self, node: ast.While) -> Any:  # noqa: N802
        node = cast(ast.While, super().visit_While(node))
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:  # noqa: N802
        node = cast(ast.FunctionDef, super().visit_FunctionDef(node))
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:  # noqa: N802
        node = cast(ast.Lambda, super().visit_Lambda(node))
        tick = ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[])
        body = ast.BoolOp(op=ast.Or(), values=[tick, node.body])
        copy_locations(tick, node.body)
        copy_locations(body, node.body)
        node.body = body
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:  # noqa: N802
        node = cast(ast.BinOp, super().visit_BinOp(node))
        guard = self._GUARDED_OPS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call


def _tick_statement(node: ast.stmt) -> ast.Expr:
    stmt = ast.Expr(ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[]))
    copy_locations(stmt, node)
    return stmt


def _excerpt(source: Any) -> str:
    text = str(source)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def source_problems(source: str, mode: str = "eval") -> list[str]:
    """Problems that make ``source`` unusable in the sandbox (empty list when it compiles).

    ``mode`` is ``"eval"`` (conditions, timers, DMN cells ...) or ``"exec"``
    (scripts). Use it at deployment time so diagrams fail early with the same
    rules that apply at run time.
    """
    try:
        _compile(source, mode)
    except SyntaxError as exc:
        return [f"Line {exc.lineno}: SyntaxError: {exc.msg}"]
    except ScriptSecurityError as exc:
        return list(exc.details.get("problems", [exc.message]))
    return []


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(source: str, mode: str) -> CodeType:
    """Compile restricted code once per (source, mode); syntax errors propagate as ``SyntaxError``."""
    if not isinstance(source, str):
        raise TypeError(f"diagram code must be a string, not {type(source).__name__}")
    text = source.strip() if mode == "eval" else source
    # what ast.parse returns for the modes "exec" / "eval" ("single")
    tree = cast("ast.Module | ast.Expression | ast.Interactive", ast.parse(text, filename=_FILENAME, mode=mode))
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(tree, filename=_FILENAME, policy=_SandboxPolicy)
    if result.errors or result.code is None:
        logger.warning("sandbox refused diagram code (%s): %s", mode, "; ".join(result.errors))
        raise ScriptSecurityError(expression=_excerpt(source), problems=list(result.errors))
    return result.code


# --------------------------------------------------------------------------- guards


def _refuse(reason: str, **details: Any) -> ScriptSecurityError:
    logger.warning("sandbox refused an operation: %s", reason)
    return ScriptSecurityError(reason=reason, **details)


def _guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``safer_getattr`` semantics, but refusals are ``ScriptSecurityError`` and missing names raise."""
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in INSPECT_ATTRIBUTES or name == "mro":
        raise _refuse("restricted attribute", attribute=name, type=type(obj).__name__)
    if name in ("format", "format_map") and (
        isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))
    ):
        raise _refuse("str.format is not allowed", attribute=name, type=type(obj).__name__)
    try:
        return safer_getattr(obj, name, *(default or (raise_,)))  # type: ignore[no-untyped-call]  # unannotated upstream
    except NotImplementedError as exc:  # safer_getattr's own refusals (string.Formatter)
        raise _refuse("restricted attribute", attribute=name, type=type(obj).__name__) from exc


_WRITABLE = frozenset({dict, list})


def _guarded_write(obj: Any) -> Any:
    if type(obj) in _WRITABLE:
        return obj
    raise _refuse("write to a read-only object", type=type(obj).__name__)


def _guarded_getitem(obj: Any, index: Any) -> Any:
    return obj[index]


def _guarded_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _check_concat(a: Any, b: Any) -> None:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES) and len(a) + len(b) > MAX_ITEMS:
        raise _refuse("sequence too large", operator="+", limit=MAX_ITEMS)


def _check_repeat(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise _refuse("integer too large", operator="*", limit_bits=MAX_INT_BITS)
        return
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, _SEQUENCES) and isinstance(count, int) and len(seq) * count > MAX_ITEMS:
            raise _refuse("sequence too large", operator="*", limit=MAX_ITEMS)


def _check_pow(base: Any, exp: Any) -> None:
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        if exp * base.bit_length() > MAX_INT_BITS:
            raise _refuse("integer too large", operator="**", limit_bits=MAX_INT_BITS)


def _check_lshift(value: Any, shift: Any) -> None:
    if isinstance(value, int) and isinstance(shift, int) and value and value.bit_length() + shift > MAX_INT_BITS:
        raise _refuse("integer too large", operator="<<", limit_bits=MAX_INT_BITS)


def _checked(check: Callable[[Any, Any], None], op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def guarded(a: Any, b: Any) -> Any:
        check(a, b)
        return op(a, b)

    return guarded


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": _checked(_check_concat, operator.iadd),
    "-=": operator.isub,
    "*=": _checked(_check_repeat, operator.imul),
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": _checked(_check_pow, operator.ipow),
    "<<=": _checked(_check_lshift, operator.ilshift),
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "@=": operator.imatmul,
}


def _guarded_inplace(op: str, target: Any, value: Any) -> Any:
    func = _INPLACE.get(op)
    if func is None:
        raise _refuse("unsupported augmented assignment", operator=op)
    return func(target, value)


def _limited_range(*args: int) -> range:
    result = range(*args)
    try:
        size = len(result)
    except OverflowError:
        size = MAX_ITEMS + 1
    if size > MAX_ITEMS:
        raise _refuse("range too large", limit=MAX_ITEMS)
    return result


def _guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is None:
        _check_pow(base, exp)
    return pow(base, exp, mod)


_UNSAFE_BUILTINS = frozenset(
    {
        "__build_class__",  # classes are refused; no metaclass games
        "_getattr_",  # provided as a guard in globals instead
        "setattr",
        "delattr",
        "BaseException",  # user code must not raise what `except Exception` cannot catch
        "SystemExit",
        "KeyboardInterrupt",
        "GeneratorExit",
    }
)

_EXTRA_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in "min max sum sorted any all enumerate zip dict list set frozenset tuple map filter reversed".split()
}

SAFE_BUILTINS: Mapping[str, Any] = {
    **{k: v for k, v in safe_builtins.items() if k not in _UNSAFE_BUILTINS},
    **_EXTRA_BUILTINS,
    "range": _limited_range,
    "pow": _guarded_pow,
}

_STATIC_GUARDS: Mapping[str, Any] = {
    "_getattr_": _guarded_getattr,
    "_getitem_": _guarded_getitem,
    "_write_": _guarded_write,
    "_apply_": _guarded_apply,
    "_inplacevar_": _guarded_inplace,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_print_": PrintCollector,
    "_add_": _checked(_check_concat, operator.add),
    "_mul_": _checked(_check_repeat, operator.mul),
    "_pow_": _checked(_check_pow, operator.pow),
    "_lshift_": _checked(_check_lshift, operator.lshift),
}

#: names the environment puts into a script's namespace and removes again afterwards
_GUARD_NAMES = frozenset({"__builtins__", "_tick_", "_getiter_", "_print", *_STATIC_GUARDS})


# --------------------------------------------------------------------------- time limit


class _Budget:
    """The deadline of one evaluate/execute call; its methods become ``_tick_`` and ``_getiter_``."""

    __slots__ = ("deadline", "limit", "source", "tripped")

    def __init__(self, limit: float, source: str) -> None:
        self.limit = limit
        self.source = source
        self.deadline = time.monotonic() + limit
        self.tripped = False

    def error(self) -> ScriptTimeoutError:
        return ScriptTimeoutError(time_limit=self.limit, expression=_excerpt(self.source))

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            self.tripped = True
            raise self.error()

    def getiter(self, obj: Iterable[Any]) -> Iterator[Any]:
        return self._ticking(iter(obj))

    def _ticking(self, iterator: Iterator[Any]) -> Iterator[Any]:
        tick = self.tick
        for item in iterator:
            tick()
            yield item


# --------------------------------------------------------------------------- environment


class RestrictedEnvironment(TaskDataEnvironment):  # type: ignore[misc]  # SpiffWorkflow ships no types
    """A ``TaskDataEnvironment`` that compiles with RestrictedPython and enforces a time limit.

    ``functions`` are trusted helpers callable by name from diagram code. Like
    upstream, ``execute`` runs in the task data dict itself and afterwards
    removes helpers, guards and every callable from it.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None, *, time_limit: float = 2.0) -> None:
        helpers = dict(functions or {})
        for name, func in helpers.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise ValueError(f"helper name {name!r} must be an identifier not starting with '_'")
            if not callable(func):
                raise TypeError(f"helper {name!r} is not callable")
        if not time_limit > 0:
            raise ValueError("time_limit must be positive")
        super().__init__(helpers)
        self.time_limit = float(time_limit)

    def _guards(self, budget: _Budget) -> dict[str, Any]:
        guards = dict(_STATIC_GUARDS)
        guards["__builtins__"] = SAFE_BUILTINS
        guards["_tick_"] = budget.tick
        guards["_getiter_"] = budget.getiter
        return guards

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        code = _compile(expression, "eval")
        budget = _Budget(self.time_limit, expression)
        namespace = dict(self.globals)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(self._guards(budget))
        return _run(budget, eval, code, namespace)

    def execute(self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None) -> bool:
        external = dict(external_context or {})
        self.check_for_overwrite(context, external)
        code = _compile(script, "exec")
        budget = _Budget(self.time_limit, script)
        context.update(self.globals)
        context.update(external)
        context.update(self._guards(budget))
        try:
            _run(budget, exec, code, context)
        finally:
            self._remove_globals_and_functions_from_context(context, external)
        return True

    def _remove_globals_and_functions_from_context(
        self, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> None:
        super()._remove_globals_and_functions_from_context(context, external_context)
        for name in _GUARD_NAMES:
            context.pop(name, None)


def _run(budget: _Budget, runner: Callable[..., Any], code: CodeType, namespace: dict[str, Any]) -> Any:
    """Run compiled code; a timeout wins even if user code caught it; refusals get the source attached."""
    try:
        result = runner(code, namespace)
    except ScriptTimeoutError:
        logger.warning("sandbox stopped diagram code after %ss", budget.limit)
        raise
    except ScriptSecurityError as exc:
        exc.details.setdefault("expression", _excerpt(budget.source))
        raise
    except Exception as exc:
        if budget.tripped:
            raise budget.error() from exc
        raise
    if budget.tripped:
        logger.warning("sandbox stopped diagram code after %ss (timeout was caught by the code)", budget.limit)
        raise budget.error()
    return result


# --------------------------------------------------------------------------- engine


class SandboxScriptEngine(PythonScriptEngine):  # type: ignore[misc]  # SpiffWorkflow ships no types
    """``PythonScriptEngine`` that chains wrapped exceptions (``__cause__``) and formats them safely."""

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as exc:
            exc.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as exc:
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}'", task=task, exception=exc
            ) from exc

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        try:
            done: bool = self.environment.execute(script, task.data, external_context or {})
            return done
        except Exception as exc:
            wrapped = self.create_task_exec_exception(task, script, exc)
            if wrapped is exc:
                raise
            raise wrapped from exc

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        if isinstance(err, SpiffWorkflowException):
            stock: Exception = super().create_task_exec_exception(task, script, err)
            return stock
        line_number, error_line = self.get_error_line_number_and_content(script, err)
        detail = err.__class__.__name__
        if err.args:
            detail += ":" + str(err.args[0])
        wrapped: Exception = WorkflowTaskException(detail, task=task, exception=err, line_number=line_number,
                                                   error_line=error_line)
        return wrapped


def build_script_engine(
    functions: Mapping[str, Callable[..., Any]] | None = None, *, time_limit: float = 2.0
) -> PythonScriptEngine:
    """The script engine every ``BpmnWorkflow`` must be created with."""
    return SandboxScriptEngine(environment=RestrictedEnvironment(functions, time_limit=time_limit))


def find_script_error(exc: BaseException | None) -> ScriptError | None:
    """Our ``ScriptError`` inside ``exc`` or its ``__cause__``/``__context__`` chain, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ScriptError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
