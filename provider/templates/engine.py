"""Orchestration: validate -> plan -> run (research §7.1).

`prepare` binds parameters, expands and previews resources and orders them; `execute` walks
that order, sending each body through the host, running nested deployments recursively,
then evaluates outputs and (Complete mode) deletes what the template no longer declares.
Template problems raise `TemplateError` before anything is written; failures once writing has
started are reported in `DeploymentResult.error` with the operations done so far.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from provider.templates import copyloops, scan
from provider.templates.context import EvalContext
from provider.templates.errors import (
    DEPLOYMENT_FAILED,
    DEPLOYMENT_FAILED_MESSAGE,
    INVALID_TEMPLATE,
    INVALID_TEMPLATE_DEPLOYMENT,
    OUTPUT_EVALUATION_FAILED,
    RESOURCE_NOT_FOUND,
    ResourceWriteError,
    TemplateError,
)
from provider.templates.evaluator import walk
from provider.templates.host import DeploymentHost
from provider.templates.ids import id_parts, parent_ids
from provider.templates.model import (
    DeploymentResult,
    DeploymentScope,
    EngineOptions,
    OperationRecord,
    Plan,
    PlannedResource,
    ValidationResult,
)
from provider.templates.parameters import TYPE_NAMES, SchemaError
from provider.templates.resources import RESOURCE_GROUPS_TYPE, Instance, located
from provider.templates.runtime import TemplateRuntime
from provider.templates.values import get_ci, has_key_ci

OperationCallback = Callable[[OperationRecord], None]
MAX_NESTING = 16
REDACTED = "***"
_STATUS_NAMES = {200: "OK", 201: "Created", 202: "Accepted", 204: "NoContent", 400: "BadRequest", 401: "Unauthorized",
                 403: "Forbidden", 404: "NotFound", 409: "Conflict", 412: "PreconditionFailed", 429: "TooManyRequests",
                 500: "InternalServerError", 503: "ServiceUnavailable"}


def _now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"


def _duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.0):.7f}S"


def redact(value: Any, secrets: list[str]) -> Any:
    """A copy of `value` with every secure parameter value masked, for structures that get echoed."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def drop_nulls(value: Any) -> Any:
    """Properties that evaluate to null are treated as absent in the body sent to the provider."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# preparation


def prepare(runtime: TemplateRuntime, *, root: bool = True) -> None:
    """Validate the template and compute the ordered instance list (no writes)."""
    if root:
        scan.check_syntax({k: v for k, v in runtime.template.items() if k.lower() != "metadata"}, "")
        if runtime.resource_group_name is not None:
            runtime.resource_group_object()
    if runtime.depth > MAX_NESTING:
        raise TemplateError(INVALID_TEMPLATE, f"Nested deployments are limited to {MAX_NESTING} levels.")
    runtime.bind_parameters()
    if runtime.location is None:
        if runtime.resource_group_name is not None:
            runtime.location = runtime.resource_group_object().get("location")
        runtime.location = runtime.location or getattr(runtime.host, "location_default", None)
    res = runtime.resources
    res.collect()
    res.expand()
    res.preview()
    res.build_graph()
    _check_outputs_declared(runtime)


def _check_outputs_declared(runtime: TemplateRuntime) -> None:
    outputs = get_ci(runtime.template, "outputs") or {}
    if not isinstance(outputs, dict):
        raise TemplateError(INVALID_TEMPLATE, "The template 'outputs' must be an object.", target="outputs")
    for name, spec in outputs.items():
        if not isinstance(spec, dict) or not (has_key_ci(spec, "type") or has_key_ci(spec, "$ref")):
            raise TemplateError(INVALID_TEMPLATE, f"The template output '{name}' must declare a 'type'.",
                                target=f"outputs.{name}")


def build_plan(runtime: TemplateRuntime) -> Plan:
    items = []
    secrets = runtime.secret_values()
    created_groups = {i.name.lower() for i in runtime.resources.instances
                      if i.type.lower() == RESOURCE_GROUPS_TYPE and i.condition}
    for inst in runtime.resources.order:
        nested = None
        if inst.is_deployment and inst.condition and inst.preview_complete and \
                (inst.target_rg or "").lower() not in created_groups:
            child = _child_runtime(runtime, inst, inst.preview_body or {})
            if child is not None:
                try:
                    prepare(child, root=False)
                except TemplateError as exc:
                    raise located(exc, f"{inst.decl.path}.properties.template") from None
                nested = build_plan(child)
        items.append(PlannedResource(
            resource_id=inst.resource_id,
            type=inst.type,
            name=inst.name,
            api_version=inst.decl.api_version,
            symbolic_name=inst.decl.symbolic,
            key=inst.key,
            condition=inst.condition,
            existing=inst.existing,
            depends_on=[d.resource_id for d in inst.depends_on],
            body=redact(drop_nulls(inst.preview_body or {}), secrets),
            body_complete=inst.preview_complete,
            scope=inst.scope_id,
            subscription_id=inst.target_sub,
            resource_group=inst.target_rg,
            copy_name=inst.copy_name,
            copy_index=inst.copy_index,
            is_deployment=inst.is_deployment,
            nested=nested,
        ))
    return Plan(items, runtime.binder.echo(), runtime.language_version, runtime.scope)


def dependencies(plan: Plan) -> list[dict[str, Any]]:
    """ARM's `dependencies` array: each resource with dependencies and what it depends on."""
    by_id = {r.resource_id.lower(): r for r in plan.resources}
    out = []
    for item in plan.resources:
        if not item.depends_on or not item.condition:
            continue
        deps = []
        for dep_id in item.depends_on:
            dep = by_id.get(dep_id.lower())
            deps.append({"id": dep_id, "resourceType": dep.type if dep else id_parts(dep_id)["type"],
                         "resourceName": dep.name if dep else id_parts(dep_id)["name"]})
        out.append({"id": item.resource_id, "resourceType": item.type, "resourceName": item.name, "dependsOn": deps})
    return out


# ---------------------------------------------------------------------------------------------
# nested deployments


def _child_runtime(runtime: TemplateRuntime, inst: Instance, body: dict[str, Any]) -> TemplateRuntime | None:
    """The runtime of an inline/linked nested deployment, or None if its template isn't available."""
    raw_props = get_ci(inst.decl.raw, "properties") or {}
    props = get_ci(body, "properties") or {}
    template = get_ci(raw_props, "template")
    link = get_ci(props, "templateLink")
    if template is None and link is not None:
        loader = runtime.options.template_loader
        if loader is None:
            raise TemplateError("InvalidContentLink", f"The nested deployment '{inst.key}' uses a templateLink, "
                                "which this emulator can't download; inline the template instead.",
                                target=f"{inst.decl.path}.properties.templateLink")
        template = loader(link, None)
    if template is None:
        raise TemplateError(INVALID_TEMPLATE, f"The nested deployment '{inst.key}' has no 'template'.",
                            target=f"{inst.decl.path}.properties")
    mode = get_ci(props, "mode") or "Incremental"
    if str(mode).lower() != "incremental":
        raise TemplateError(INVALID_TEMPLATE_DEPLOYMENT, f"The nested deployment '{inst.key}' uses mode '{mode}'; "
                            "nested deployments only support 'Incremental'.",
                            target=f"{inst.decl.path}.properties.mode")
    outer = runtime.nested_scope(inst) == "outer"
    scope = DeploymentScope(
        subscription_id=inst.target_sub or runtime.subscription_id,
        resource_group=inst.target_rg,
        location=get_ci(body, "location") or (runtime.location if inst.target_rg is None else None),
        deployment_name=inst.name,
        tenant_id=runtime.tenant_id,
    )
    parameters = {} if outer else (get_ci(props, "parameters") or {})
    return TemplateRuntime(template, parameters, scope, runtime.host, runtime.options, mode="Incremental",
                           parent=runtime, outer=outer, depth=runtime.depth + 1)


# ---------------------------------------------------------------------------------------------
# execution


class _Execution:
    def __init__(self, runtime: TemplateRuntime, deployment_name: str, on_operation: OperationCallback | None) -> None:
        self.rt = runtime
        self.name = deployment_name
        self.on_operation = on_operation
        self.operations: list[OperationRecord] = []
        self.output_resources: list[str] = []
        self.failures: list[dict[str, Any]] = []
        self.nested: dict[str, DeploymentResult] = {}
        self.secrets = runtime.secret_values()

    def record(self, inst_or_id: Instance | str, operation: str, state: str, status: str, started: float,
               stamp: str, *, error: dict | None = None, emulated: bool = False, request: dict | None = None,
               response: dict | None = None, resource_type: str | None = None) -> None:
        if isinstance(inst_or_id, Instance):
            resource_id, rtype, rname = inst_or_id.resource_id, inst_or_id.type, inst_or_id.name
            api, symbol = inst_or_id.decl.api_version, inst_or_id.decl.symbolic
        else:
            parts = id_parts(inst_or_id)
            resource_id, rtype, rname = inst_or_id, resource_type or str(parts["type"]), str(parts["name"])
            api = symbol = None
        request, response = redact(request, self.secrets), redact(response, self.secrets)
        op = OperationRecord(
            resource_id=resource_id, resource_type=rtype, resource_name=rname, provisioning_operation=operation,
            provisioning_state=state, status_code=status,
            status_message={"error": error} if error else {"status": state},
            timestamp=stamp, duration=_duration(time.perf_counter() - started), emulated=emulated,
            api_version=api, symbolic_name=symbol, deployment_name=self.name, error=error,
            request=request, response=response,
        )
        self.operations.append(op)
        if self.on_operation is not None:
            self.on_operation(op)

    def fail(self, inst: Instance | str, error: dict[str, Any]) -> None:
        target = inst.resource_id if isinstance(inst, Instance) else inst
        detail = dict(error)
        detail.setdefault("target", target)
        if detail.get("target") != target:
            detail = {"code": error.get("code", DEPLOYMENT_FAILED), "target": target,
                      "message": error.get("message", ""), "details": [error]}
        self.failures.append(detail)

    # -------------------------------------------------------------------------------- steps
    def run(self) -> None:
        for inst in self.rt.resources.order:
            if not inst.condition:
                inst.state = "skipped"
                continue
            if inst.existing:
                ok = self._read_existing(inst)
            elif inst.is_deployment:
                ok = self._nested(inst)
            else:
                ok = self._put(inst)
            if not ok:
                return

    def _runtime_ctx(self, inst: Instance) -> EvalContext:
        return inst.ctx.derive(allow_runtime=True, location=f"the resource '{inst.key}'")

    def _body(self, inst: Instance) -> dict[str, Any]:
        if inst.preview_complete and inst.preview_body is not None:
            return inst.preview_body
        return self.rt.evaluate_body(inst, self._runtime_ctx(inst))

    def _read_existing(self, inst: Instance) -> bool:
        started, stamp = time.perf_counter(), _now_iso()
        body = self.rt.host.get_resource(inst.resource_id, inst.decl.api_version)
        if body is None:
            error = self.rt._not_found(inst.resource_id).to_dict()
            self.record(inst, "Read", "Failed", "NotFound", started, stamp, error=error)
            self.fail(inst, error)
            inst.state = "failed"
            return False
        inst.result = body
        inst.state = "succeeded"
        return True

    def _put(self, inst: Instance) -> bool:
        started, stamp = time.perf_counter(), _now_iso()
        host = self.rt.host
        try:
            body = drop_nulls(self._body(inst))
        except TemplateError as exc:
            error = exc.to_dict()
            self.record(inst, "Create", "Failed", "BadRequest", started, stamp, error=error)
            self.fail(inst, error)
            inst.state = "failed"
            return False
        existed = host.get_resource(inst.resource_id, inst.decl.api_version) is not None
        try:
            result = host.put_resource(inst.resource_id, copy.deepcopy(body), inst.decl.api_version)
        except ResourceWriteError as exc:
            error = exc.to_dict()
            self.record(inst, "Create", "Failed", _STATUS_NAMES.get(exc.status, str(exc.status)), started, stamp,
                        error=error, request=body)
            self.fail(inst, error)
            inst.state = "failed"
            return False
        inst.result = result
        inst.state = "succeeded"
        self.output_resources.append(inst.resource_id)
        self.record(inst, "Create", "Succeeded", "OK" if existed else "Created", started, stamp, request=body,
                    response=result)
        return True

    def _nested(self, inst: Instance) -> bool:
        started, stamp = time.perf_counter(), _now_iso()
        try:
            body = self._body(inst)
            child = _child_runtime(self.rt, inst, body)
            assert child is not None
            prepare(child, root=False)
        except TemplateError as exc:
            error = exc.to_dict()
            self.record(inst, "Create", "Failed", "BadRequest", started, stamp, error=error, emulated=True)
            self.fail(inst, error)
            inst.state = "failed"
            return False
        result = execute(child, inst.name, self.on_operation)
        self.nested[inst.resource_id] = result
        self.nested.update(result.nested)
        self.output_resources.extend(result.output_resources)
        inst.result = {
            "id": inst.resource_id,
            "name": inst.name,
            "type": "Microsoft.Resources/deployments",
            "properties": {
                "provisioningState": result.provisioning_state,
                "mode": "Incremental",
                "outputs": result.outputs,
                "outputResources": [{"id": i} for i in result.output_resources],
                "parameters": result.parameters,
                "timestamp": stamp,
                "duration": result.duration,
            },
        }
        if result.error is not None:
            self.record(inst, "Create", "Failed", "Conflict", started, stamp, error=result.error, emulated=True)
            self.fail(inst, result.error)
            inst.state = "failed"
            return False
        inst.state = "succeeded"
        self.record(inst, "Create", "Succeeded", "Created", started, stamp, emulated=True, response=inst.result)
        return True

    def outputs(self) -> dict[str, dict[str, Any]]:
        declared = get_ci(self.rt.template, "outputs") or {}
        result: dict[str, dict[str, Any]] = {}
        ctx = self.rt.runtime_context("the template outputs")
        checker = self.rt.checker
        for name, spec in declared.items():
            try:
                condition = get_ci(spec, "condition")
                if condition is not None:
                    value = walk(condition, ctx)
                    if not isinstance(value, bool):
                        raise TemplateError(INVALID_TEMPLATE, "The output condition must be a boolean.")
                    if not value:
                        continue
                copy_spec = get_ci(spec, "copy")
                if copy_spec is not None:
                    value = copyloops.expand_copy_array(copy_spec, ctx, walk, name="", default=True)
                else:
                    value = walk(get_ci(spec, "value"), ctx)
                schema = checker.resolve(spec)
                kind = (checker.kind(schema) or "object")
                if kind == "int" and isinstance(value, float) and value.is_integer():
                    value = int(value)
                if value is not None:
                    checker.check(value, {k: v for k, v in schema.items() if k.lower() != "nullable"})
            except SchemaError as exc:
                raise TemplateError(OUTPUT_EVALUATION_FAILED, f"The template output '{name}' is not valid: "
                                    f"{exc.message}", target=f"outputs.{name}") from None
            except TemplateError as exc:
                located(exc, f"outputs.{name}")
                raise TemplateError(OUTPUT_EVALUATION_FAILED, f"Unable to evaluate template outputs: '{name}'. "
                                    "Please see error details and deployment operations.", target=exc.target,
                                    details=[exc.to_dict()]) from None
            entry: dict[str, Any] = {"type": TYPE_NAMES.get(kind, kind)}
            if kind not in ("securestring", "secureobject"):
                entry["value"] = value
            result[name] = entry
        return result

    def complete_mode_cleanup(self) -> bool:
        rt = self.rt
        if rt.resource_group_name is None:
            return True
        keep = {i.resource_id.lower() for i in rt.resources.instances if i.condition}
        keep.update(r.lower() for r in self.output_resources)
        listed = rt.host.list_resource_ids_in_group(rt.subscription_id, rt.resource_group_name)
        doomed = []
        for resource_id in listed:
            lowered = resource_id.lower()
            if lowered in keep or any(p.lower() in keep for p in parent_ids(resource_id)):
                continue
            doomed.append(resource_id)
        doomed.sort(key=lambda r: r.count("/"), reverse=True)
        for resource_id in doomed:
            started, stamp = time.perf_counter(), _now_iso()
            try:
                rt.host.delete_resource(resource_id, None)
            except ResourceWriteError as exc:
                error = exc.to_dict()
                self.record(resource_id, "Delete", "Failed", _STATUS_NAMES.get(exc.status, str(exc.status)),
                            started, stamp, error=error)
                self.fail(resource_id, error)
                return False
            self.record(resource_id, "Delete", "Succeeded", "OK", started, stamp)
        return True


def execute(runtime: TemplateRuntime, deployment_name: str, on_operation: OperationCallback | None = None,
            *, complete: bool = False, plan: Plan | None = None) -> DeploymentResult:
    """Run a prepared runtime to completion; never raises for resource failures."""
    started, stamp = time.perf_counter(), _now_iso()
    run = _Execution(runtime, deployment_name, on_operation)
    run.run()
    outputs: dict[str, dict[str, Any]] = {}
    error: dict[str, Any] | None = None
    if not run.failures:
        try:
            outputs = run.outputs()
        except TemplateError as exc:
            error = exc.to_dict()
    if not run.failures and error is None and complete:
        run.complete_mode_cleanup()
    if run.failures:
        error = {"code": DEPLOYMENT_FAILED, "message": DEPLOYMENT_FAILED_MESSAGE, "details": run.failures}
    return DeploymentResult(
        deployment_name=deployment_name,
        provisioning_state="Failed" if error else "Succeeded",
        outputs=outputs,
        output_resources=run.output_resources,
        operations=run.operations,
        error=error,
        parameters=runtime.binder.echo() if not runtime.outer else {},
        plan=plan,
        nested=run.nested,
        started=stamp,
        duration=_duration(time.perf_counter() - started),
    )


# ---------------------------------------------------------------------------------------------
# public entry points


def _runtime(template: dict, parameters: dict | None, scope: DeploymentScope, host: DeploymentHost,
             options: EngineOptions | None, mode: str = "Incremental") -> TemplateRuntime:
    return TemplateRuntime(template, parameters, scope, host, options, mode=mode)


def validate_template(template: dict, parameters: dict | None, *, scope: DeploymentScope, host: DeploymentHost,
                      options: EngineOptions | None = None) -> ValidationResult:
    runtime = _runtime(template, parameters, scope, host, options)
    prepare(runtime)
    plan = build_plan(runtime)
    validated = [r.resource_id for r in plan.resources if r.condition and not r.existing]
    return ValidationResult(plan=plan, parameters=plan.parameters, validated_resources=validated,
                            dependencies=dependencies(plan))


def plan_deployment(template: dict, parameters: dict | None, *, scope: DeploymentScope, host: DeploymentHost,
                    options: EngineOptions | None = None) -> Plan:
    runtime = _runtime(template, parameters, scope, host, options)
    prepare(runtime)
    return build_plan(runtime)


def run_deployment(template: dict, parameters: dict | None, *, scope: DeploymentScope, host: DeploymentHost,
                   mode: str = "Incremental", deployment_name: str | None = None,
                   on_operation: OperationCallback | None = None,
                   options: EngineOptions | None = None) -> DeploymentResult:
    normalized = {"incremental": "Incremental", "complete": "Complete"}.get(str(mode).lower())
    if normalized is None:
        raise TemplateError(INVALID_TEMPLATE_DEPLOYMENT, f"The deployment mode '{mode}' is not valid; use "
                            "'Incremental' or 'Complete'.", target="properties.mode")
    if normalized == "Complete" and scope.resource_group is None:
        raise TemplateError(INVALID_TEMPLATE_DEPLOYMENT, "Complete mode is only supported for resource group "
                            "deployments.", target="properties.mode")
    if deployment_name:
        scope = DeploymentScope(scope.subscription_id, scope.resource_group, scope.location, deployment_name,
                                scope.tenant_id)
    runtime = _runtime(template, parameters, scope, host, options, normalized)
    prepare(runtime)
    plan = build_plan(runtime)
    return execute(runtime, scope.deployment_name, on_operation, complete=normalized == "Complete", plan=plan)


__all__ = ["validate_template", "plan_deployment", "run_deployment", "dependencies", "RESOURCE_NOT_FOUND"]
