"""The domain exception tree.

Every error that may cross the engine boundary is a :class:`HeduiError` with a
stable ``code`` (used by the API) and a Chinese ``message`` (shown to users).
``web/errors.py`` maps the classes to HTTP statuses in one place.
This module imports nothing from the project.
"""

from __future__ import annotations

from typing import Any


class HeduiError(Exception):
    """Base of every domain error."""

    code = "error"
    message = "操作失败"
    #: set when the entry point should commit despite the error (a refusal's own record)
    commit = False

    def __init__(self, message: str | None = None, *, code: str | None = None, **details: Any) -> None:
        self.message = message or self.message
        if code is not None:
            self.code = code
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class NotFoundError(HeduiError):
    """The object does not exist (or the caller may not know it exists)."""

    code = "not_found"
    message = "对象不存在"


class PermissionDeniedError(HeduiError):
    """The caller may see the object but not perform the action."""

    code = "permission_denied"
    message = "无权执行此操作"


class SeparationOfDutiesError(PermissionDeniedError):
    """A separation-of-duties rule refuses the action; ``rule`` names it."""

    code = "separation_of_duties"
    message = "违反不相容岗位分离规则"


class ConflictError(HeduiError):
    """Someone else changed the object first (concurrent claim/complete)."""

    code = "conflict"
    message = "该事项已被他人处理，请刷新后重试"


class InvalidStateError(ConflictError):
    """The object is not in a state that allows the action."""

    code = "invalid_state"
    message = "当前状态不允许此操作"


class ValidationError(HeduiError):
    """Input is invalid; ``details['fields']`` maps field names to Chinese messages."""

    code = "validation_error"
    message = "提交的数据有误"


class FormValidationError(ValidationError):
    """Submitted form data does not satisfy the task's form schema."""

    code = "form_invalid"
    message = "表单填写有误"


class DeploymentError(ValidationError):
    """A BPMN/DMN deployment was refused; ``details['problems']`` lists each problem."""

    code = "deployment_invalid"
    message = "流程定义校验未通过"


class ScriptError(HeduiError):
    """A diagram expression or script failed."""

    code = "script_error"
    message = "流程脚本执行失败"


class ScriptSecurityError(ScriptError):
    """A diagram expression tried something the sandbox forbids."""

    code = "script_forbidden"
    message = "流程脚本包含不允许的操作"


class ScriptTimeoutError(ScriptError):
    """A diagram expression ran longer than its time limit."""

    code = "script_timeout"
    message = "流程脚本执行超时"


class WorkflowError(HeduiError):
    """The workflow engine failed; carries ``task_id``/``bpmn_id`` when known."""

    code = "workflow_error"
    message = "流程引擎执行出错"


class IntegrityError(HeduiError):
    """Stored history or state does not verify (tampering or corruption)."""

    code = "integrity_error"
    message = "数据完整性校验失败"


class ConfigurationError(HeduiError):
    """The application configuration is invalid."""

    code = "configuration_error"
    message = "系统配置有误"
