"""Data handed across the engine boundary: scope, plan, operation records and results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class DeploymentScope:
    """Where a deployment runs. `resource_group` is None at subscription scope."""

    subscription_id: str
    resource_group: str | None
    location: str | None = None
    deployment_name: str = "deployment"
    tenant_id: str | None = None


@dataclass
class EngineOptions:
    """Test and integration hooks.

    `now` pins utcNow(); `new_guid` replaces newGuid(); `template_loader(templateLink, parent_link)` returns the
    template a `templateLink` points at (without it, linked templates are refused).
    """

    now: datetime | None = None
    new_guid: Callable[[], str] | None = None
    template_loader: Callable[[dict, dict | None], dict] | None = None


@dataclass
class PlannedResource:
    """One expanded resource instance, in deployment order."""

    resource_id: str
    type: str
    name: str
    api_version: str
    symbolic_name: str | None
    key: str  # how errors and cycles name it: "sym", "sym[2]" (2.0) or the resource id (1.0)
    condition: bool
    existing: bool
    depends_on: list[str]
    body: dict[str, Any]  # preview-evaluated PUT body; runtime-only values keep their expression text
    body_complete: bool  # False when part of the body needs reference()/list*() at run time
    scope: str | None = None  # extension resources: the id of the resource they attach to
    subscription_id: str | None = None
    resource_group: str | None = None
    copy_name: str | None = None
    copy_index: int | None = None
    is_deployment: bool = False  # a nested Microsoft.Resources/deployments
    nested: Plan | None = None  # the nested deployment's own plan when it could be computed up front


@dataclass
class Plan:
    resources: list[PlannedResource]
    parameters: dict[str, dict[str, Any]]  # {name: {"type", "value"?}}; secure values omitted
    language_version: str
    scope: DeploymentScope

    def resource(self, key_or_id: str) -> PlannedResource:
        for item in self.resources:
            if key_or_id in (item.key, item.symbolic_name) or item.resource_id.lower() == key_or_id.lower():
                return item
        raise KeyError(key_or_id)


@dataclass
class ValidationResult:
    plan: Plan
    parameters: dict[str, dict[str, Any]]
    validated_resources: list[str]
    dependencies: list[dict[str, Any]]  # ARM "dependencies" shape


@dataclass
class OperationRecord:
    resource_id: str
    resource_type: str
    resource_name: str
    provisioning_operation: str  # Create | Read | Delete
    provisioning_state: str  # Succeeded | Failed
    status_code: str  # HTTP status name: OK, Created, BadRequest, NotFound, Conflict...
    status_message: dict[str, Any]  # {"status": "Succeeded"} or {"error": {...}}
    timestamp: str
    duration: str  # ISO-8601 duration
    emulated: bool  # True when the engine handled it itself (nested deployments) instead of the host
    api_version: str | None = None
    symbolic_name: str | None = None
    deployment_name: str = ""
    error: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None


@dataclass
class DeploymentResult:
    deployment_name: str
    provisioning_state: str  # Succeeded | Failed
    outputs: dict[str, dict[str, Any]]
    output_resources: list[str]
    operations: list[OperationRecord]
    error: dict[str, Any] | None
    parameters: dict[str, dict[str, Any]]
    plan: Plan | None = None
    nested: dict[str, DeploymentResult] = field(default_factory=dict)  # by nested deployment resource id
    started: str = ""
    duration: str = ""
