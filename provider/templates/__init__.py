"""The ARM template engine: a pure library that validates, plans and runs template deployments.

The REST layer calls `validate_template`, `plan_deployment` and `run_deployment`; the engine
reaches the rest of the emulator only through a `DeploymentHost` (see `host.py`).
"""

from provider.templates.engine import dependencies, plan_deployment, run_deployment, validate_template
from provider.templates.errors import ResourceWriteError, TemplateError
from provider.templates.host import DeploymentHost
from provider.templates.model import (
    DeploymentResult,
    DeploymentScope,
    EngineOptions,
    OperationRecord,
    Plan,
    PlannedResource,
    ValidationResult,
)
from provider.templates.runtime import DEFAULT_ENVIRONMENT, template_hash

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "DeploymentHost",
    "DeploymentResult",
    "DeploymentScope",
    "EngineOptions",
    "OperationRecord",
    "Plan",
    "PlannedResource",
    "ResourceWriteError",
    "TemplateError",
    "ValidationResult",
    "dependencies",
    "plan_deployment",
    "run_deployment",
    "template_hash",
    "validate_template",
]
