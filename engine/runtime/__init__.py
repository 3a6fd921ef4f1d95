"""The SpiffWorkflow boundary: nothing outside this package imports SpiffWorkflow."""

from engine.runtime.core import BpmnRuntime
from engine.runtime.core import DefinitionInfo
from engine.runtime.parsing import parse_bundle
from engine.runtime.types import DeployProblem
from engine.runtime.types import ParsedProcess
from engine.runtime.types import ReadyTask
from engine.runtime.types import TaskTrace
from engine.runtime.types import ThrownMessage
from engine.runtime.types import UserTaskInfo
from engine.runtime.types import WaitingMessage
from engine.runtime.types import WaitingTimer
from engine.runtime.workflow import Workflow

__all__ = [
    "BpmnRuntime",
    "DefinitionInfo",
    "DeployProblem",
    "ParsedProcess",
    "ReadyTask",
    "TaskTrace",
    "ThrownMessage",
    "UserTaskInfo",
    "WaitingMessage",
    "WaitingTimer",
    "Workflow",
    "parse_bundle",
]
