"""BPMN lint for process designers: what deploy would refuse (errors) and what deploys but is poor or risky
(warnings), each with a stable code, a Chinese message, file, element and line.

Errors come from the one validation deploy runs (``engine.services.deploy.validate_bundle``); warnings from
the rules in ``engine.bpmn_lint_flow`` and ``engine.bpmn_lint_rules`` (pure lxml over the XML; the table of
codes is in docs/process-design.md, "Lint"). Reads the database (roles, current called processes), writes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

from lxml import etree
from sqlalchemy import select

from engine.bpmn_lint_flow import flow_hits
from engine.bpmn_lint_model import Diagram
from engine.bpmn_lint_model import Hit
from engine.bpmn_lint_rules import RULES
from engine.context import EngineContext
from engine.models import Role
from engine.runtime import DeployProblem
from engine.services.deploy import validate_bundle

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One thing the lint found; ``severity`` "error" means deploy refuses the files."""

    severity: str
    code: str
    message: str
    filename: str | None
    element_id: str | None
    line: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LintReport:
    """Every finding for a set of files, and the process ids they declare."""

    findings: list[Finding]
    processes: list[str]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        """No errors: deploy would accept the files (warnings allowed)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "processes": list(self.processes), "errors": len(self.errors),
                "warnings": len(self.warnings), "findings": [f.as_dict() for f in self.findings]}


def lint_files(ctx: EngineContext, files: Mapping[str, bytes]) -> LintReport:
    """Lint ``files`` (name -> content): deploy's problems as errors, the lint rules' findings as warnings.

    Malformed XML is an error finding, never an exception. A warning deploy already refuses (same code and
    element, e.g. SpiffWorkflow's ``flow_without_condition``) is reported once, as the error. Nothing is stored.
    """
    problems = validate_bundle(ctx, files).problems
    errors = sorted((_from_problem(p) for p in problems), key=_position)
    parties = {code: party for code, party in ctx.session.execute(select(Role.code, Role.party))}
    warnings: list[Finding] = []
    processes: list[str] = []
    for name in sorted(files):
        root = _parse(files[name]) if name.endswith(".bpmn") else None
        if root is None:
            continue
        diagram = Diagram(name, root, parties)
        processes += [p.get("id") for p in diagram.processes() if p.get("id")]
        refused = {(e.code, e.element_id) for e in errors if e.filename == name}
        warnings += sorted((_warning(name, h) for h in diagram_warnings(diagram)
                            if (h.code, h.element_id) not in refused), key=_position)
    return LintReport(errors + warnings, processes)


def diagram_warnings(diagram: Diagram) -> list[Hit]:
    """Every warning rule over every executable process of one file (a non-executable one only documents)."""
    out: list[Hit] = []
    for process in diagram.executable_processes():
        out += flow_hits(process)
        for rule in RULES:
            out += rule(diagram, process)
    return out


def _parse(content: bytes) -> Any:
    """The XML root, or None when malformed (deploy's validation reports that as an error)."""
    try:
        return etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None


def _from_problem(problem: DeployProblem) -> Finding:
    return Finding(ERROR, problem.code, problem.message, problem.file or None, problem.element_id, problem.line)


def _warning(filename: str, h: Hit) -> Finding:
    return Finding(WARNING, h.code, h.message, filename, h.element_id, h.line)


def _position(finding: Finding) -> tuple[str, int, str]:
    return (finding.filename or "", finding.line or 0, finding.code)
