"""Errors raised by the template engine.

`TemplateError` carries what ARM puts in an error body (code, message, target, details) plus
the character position inside an expression when the problem is in one, so the REST layer can
turn it into `{"error": {...}}` without knowing where it came from.
"""

from __future__ import annotations

from typing import Any

INVALID_TEMPLATE = "InvalidTemplate"
INVALID_TEMPLATE_DEPLOYMENT = "InvalidTemplateDeployment"
DEPLOYMENT_FAILED = "DeploymentFailed"
RESOURCE_NOT_FOUND = "ResourceNotFound"
RESOURCE_GROUP_NOT_FOUND = "ResourceGroupNotFound"
OUTPUT_EVALUATION_FAILED = "DeploymentOutputEvaluationFailed"

DEPLOYMENT_FAILED_MESSAGE = (
    "At least one resource deployment operation failed. Please list deployment operations for details. "
    "Please see https://aka.ms/arm-deployment-operations for usage details."
)


class TemplateError(Exception):
    """A template, parameter or expression problem, shaped like an ARM error.

    `target` is the JSON path inside the template (e.g. `resources[1].properties.name`); `position` is the
    0-based character offset inside the offending JSON string value (its leading `[` is offset 0).
    """

    def __init__(
        self,
        code: str,
        message: str,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.position = position
        # JSON path segments collected while the error unwinds through nested values.
        self.path: list[str] = []

    def to_dict(self) -> dict[str, Any]:
        """The ARM error body (`{"code", "message", "target"?, "details"?, "additionalInfo"?}`)."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            body["target"] = self.target
        if self.details:
            body["details"] = self.details
        if self.target or self.position is not None:
            info: dict[str, Any] = {}
            if self.target:
                info["path"] = self.target
            if self.position is not None:
                info["expressionPosition"] = self.position
            body["additionalInfo"] = [{"type": "TemplateViolation", "info": info}]
        return body

    def __str__(self) -> str:
        where = f" (at {self.target})" if self.target else ""
        return f"{self.code}: {self.message}{where}"


class ExpressionError(TemplateError):
    """A problem inside one language expression (syntax, unknown function, bad argument...)."""

    def __init__(self, message: str, position: int | None = None, code: str = INVALID_TEMPLATE) -> None:
        super().__init__(code, message, position=position)


class Deferred(Exception):
    """Raised while previewing a template when a value needs runtime state (reference/list*)."""


class ResourceWriteError(Exception):
    """Raised by `DeploymentHost.put_resource` (or delete) when the resource provider refuses a write."""

    def __init__(self, code: str, message: str, status: int = 400, target: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.target = target

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            body["target"] = self.target
        return body


