"""Template deployments: what `Microsoft.Resources/deployments` does, apart from its declaration.

PUT validates the template (a template or parameter problem is a 400 before anything is
touched), records the deployment, runs it through `provider.templates` with every resource
written by the same handlers as a REST PUT (`provider/deployments/host.py`), and records one
child `operations` entry per resource. The deployment's own long-running operation follows
`--lro`; the resources it writes complete at once (the real deployment engine waits for each of
them). Also validate, whatIf, cancel and exportTemplate.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import json5

from provider.arm import handlers
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError, invalid_content, invalid_content_link, location_required
from provider.arm.ids import parse_resource_id, try_parse_resource_id
from provider.arm.resource_type import ResourceType
from provider.deployments.host import EmulatorDeploymentHost
from provider.deployments.whatif import what_if
from provider.templates import (
    DeploymentScope,
    TemplateError,
    dependencies,
    plan_deployment,
    run_deployment,
    template_hash,
    validate_template,
)

OPERATION_TYPE = "Microsoft.Resources/deployments/operations"
TERMINAL = ("Succeeded", "Failed", "Canceled")


def parse_deployment_body(body: Any) -> dict[str, Any]:
    """The `Deployment` body: mode, template (object or JSON text), parameters (inner object)."""
    if not isinstance(body, dict):
        raise invalid_content("The request content must be a JSON object.")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise invalid_content("The request content must have 'properties'.", "properties")
    mode = props.get("mode")
    if mode is None:
        raise invalid_content("The 'properties.mode' value is required (Incremental or "
                              "Complete).", "properties.mode")
    if str(mode).lower() not in ("incremental", "complete"):
        raise invalid_content(f"The deployment mode '{mode}' is not valid. Use 'Incremental' or 'Complete'.",
                              "properties.mode")
    template = props.get("template")
    if template is None and props.get("templateLink"):
        raise invalid_content_link(
            "Unable to download deployment content: the emulator is offline and cannot follow "
            "templateLink; send the template inline in 'properties.template'.", "properties.templateLink")
    if isinstance(template, str):
        template = _parse_text(template, "properties.template")
    if not isinstance(template, dict):
        raise invalid_content("'properties.template' must be a JSON object.",
                              "properties.template")
    if props.get("parametersLink"):
        raise invalid_content_link("The emulator cannot follow parametersLink; send "
                                   "'properties.parameters' inline.", "properties.parametersLink")
    parameters = props.get("parameters") or {}
    if isinstance(parameters, str):
        parameters = _parse_text(parameters, "properties.parameters")
    if not isinstance(parameters, dict):
        raise invalid_content("'properties.parameters' must be a JSON object.",
                              "properties.parameters")
    if "$schema" in parameters and isinstance(parameters.get("parameters"), dict):
        parameters = parameters["parameters"]  # a whole parameters file: unwrap (see docs/divergences.md)
    return {"mode": "Complete" if str(mode).lower() == "complete" else "Incremental", "template": template,
            "parameters": parameters, "location": body.get("location"), "tags": body.get("tags") or {},
            "debugSetting": props.get("debugSetting"), "whatIfSettings": props.get("whatIfSettings") or {}}


def _parse_text(text: str, target: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return json5.loads(text)
        except Exception as exc:  # json5 raises ValueError subclasses
            raise ArmError(400, "InvalidTemplate", f"The template text is not valid JSON: {exc}", target) from exc


def _host(ctx: RequestContext) -> EmulatorDeploymentHost:
    return EmulatorDeploymentHost(ctx)


def _scope(ctx: RequestContext, parsed: dict[str, Any]) -> DeploymentScope:
    rid = ctx.rid
    assert rid is not None
    if rid.resource_group is None and not parsed.get("location"):
        raise location_required("The 'location' property is required for subscription-scope deployments.", "location")
    return DeploymentScope(subscription_id=rid.subscription, resource_group=rid.resource_group,
                           location=parsed.get("location") or ctx.emu.config.location, deployment_name=rid.name,
                           tenant_id=ctx.emu.config.tenant_id)


def _template_error(exc: Exception) -> ArmError:
    body = exc.to_dict() if hasattr(exc, "to_dict") else {"code": "InvalidTemplate", "message": str(exc)}
    code = body.get("code", "InvalidTemplate")
    message = body.get("message", "")
    if code == "InvalidTemplate" and not message.startswith("Deployment template validation failed"):
        message = f"Deployment template validation failed: '{message}'"
    err = ArmError(400, code, message, body.get("target"), body.get("details"))
    err.additional_info = body.get("additionalInfo")
    return err


def _providers(resource_ids: list[str]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, set]] = {}
    for rid_text in resource_ids:
        rid = try_parse_resource_id(rid_text)
        if rid is None:
            continue
        out.setdefault(rid.namespace, {}).setdefault("/".join(rid.types), set())
    return [{"namespace": ns, "resourceTypes": [{"resourceType": t, "locations": []} for t in sorted(types)]}
            for ns, types in sorted(out.items())]


def _operation_doc(deployment_id: str, record: Any, not_emulated: set[str]) -> dict[str, Any]:
    op_id = uuid.uuid4().hex[:16].upper()
    status_message = dict(record.status_message)
    if record.resource_id.lower() in not_emulated:
        status_message["emulator"] = "not emulated: stored as a generic resource that echoes its properties"
    return {
        "id": f"{deployment_id}/operations/{op_id}", "name": op_id, "type": OPERATION_TYPE, "operationId": op_id,
        "properties": {
            "provisioningOperation": record.provisioning_operation,
            "provisioningState": record.provisioning_state,
            "timestamp": record.timestamp, "duration": record.duration,
            "trackingId": str(uuid.uuid4()), "serviceRequestId": str(uuid.uuid4()),
            "statusCode": record.status_code, "statusMessage": status_message,
            "targetResource": {"id": record.resource_id, "resourceType": record.resource_type,
                               "resourceName": record.resource_name, "apiVersion": record.api_version,
                               **({"symbolicName": record.symbolic_name} if record.symbolic_name else {})},
            **({"request": record.request} if record.request else {}),
            **({"response": record.response} if record.response else {}),
        },
    }


def run_put(ctx: RequestContext, rtype: ResourceType, body: Any, if_match: str | None,
            if_none_match: str | None) -> handlers.ArmResponse:
    """PUT a deployment: validate, record, run, record the outcome."""
    rid = ctx.rid
    assert rid is not None
    handlers.check_api_version(ctx, rtype)
    handlers.check_name(rtype, rid)
    handlers.check_scope(ctx, rid)
    emu = ctx.emu
    existing = emu.repo.get(rid.key)
    handlers.check_conditions(existing, if_match, if_none_match, "PUT")
    if existing and existing["properties"].get("provisioningState") not in TERMINAL:
        raise ArmError(409, "DeploymentActive", f"The deployment '{rid.name}' is still running.")
    parsed = parse_deployment_body(body)
    scope = _scope(ctx, parsed)
    if existing and existing.get("location") and parsed.get("location") and \
            handlers.normalize_location(parsed["location"]) != existing["location"]:
        raise ArmError(400, "InvalidDeploymentLocation",
                       f"The deployment '{rid.name}' already exists in location '{existing['location']}'.",
                       "location")
    host = _host(ctx)
    try:
        validate_template(parsed["template"], parsed["parameters"], scope=scope, host=host)
    except TemplateError as exc:
        raise _template_error(exc) from exc

    started = time.time()
    doc: dict[str, Any] = {"id": rid.id, "name": rid.name, "type": rtype.full_type, "tags": parsed["tags"]}
    if rid.resource_group is None or parsed.get("location"):
        doc["location"] = handlers.normalize_location(parsed.get("location") or scope.location)
    doc["properties"] = {
        "provisioningState": "Running", "mode": parsed["mode"], "correlationId": str(uuid.uuid4()),
        "timestamp": ctx.timestamp(), "templateHash": template_hash(parsed["template"]),
    }
    if parsed.get("debugSetting"):
        doc["properties"]["debugSetting"] = parsed["debugSetting"]
    doc["_template"] = parsed["template"]
    doc["systemData"] = handlers.system_data(ctx, existing)
    doc["etag"] = handlers.new_etag()
    with emu.store.transaction():
        if existing:
            for child in emu.repo.descendants(rid.id):
                emu.repo.delete(child["id"])
        emu.repo.put(rid, doc)

    def on_operation(record: Any) -> None:
        op_doc = _operation_doc(rid.id, record, host.not_emulated)
        with emu.store.transaction():
            emu.repo.put(parse_resource_id(op_doc["id"]), op_doc)

    try:
        result = run_deployment(parsed["template"], parsed["parameters"], scope=scope, host=host,
                                mode=parsed["mode"], deployment_name=rid.name, on_operation=on_operation)
        outcome = {"state": result.provisioning_state, "outputs": result.outputs,
                   "outputResources": [{"id": i} for i in result.output_resources],
                   "parameters": result.parameters, "error": result.error,
                   "dependencies": _dependencies(result)}
    except TemplateError as exc:
        outcome = {"state": "Failed", "outputs": {}, "outputResources": [], "parameters": {},
                   "error": _template_error(exc).body()["error"], "dependencies": []}
    props = doc["properties"]
    props.update(parameters=outcome["parameters"], outputs=outcome["outputs"],
                 outputResources=outcome["outputResources"], dependencies=outcome["dependencies"],
                 providers=_providers([r["id"] for r in outcome["outputResources"]]),
                 duration=f"PT{time.time() - started:.3f}S", timestamp=ctx.timestamp())
    if outcome["error"]:
        props["error"] = outcome["error"]
    final = "Succeeded" if outcome["state"] == "Succeeded" else "Failed"
    immediate = emu.lro_mode.immediate
    with emu.store.transaction():
        props["provisioningState"] = final if immediate else "Running"
        if not immediate:
            doc["_finalState"] = final
        emu.repo.put(rid, doc)
        op = handlers.start_operation(ctx, rtype, rid, "put", doc.get("location") or emu.config.location, "Running",
                                error=props.get("error") if final == "Failed" else None, immediate=immediate)
    headers = handlers.lro_headers(ctx, op, async_op=True, location=False)
    headers["ETag"] = doc["etag"]
    body = handlers.render(ctx, rtype, doc)
    # As ARM does, the PUT answer reports the deployment as accepted and clients learn the outcome
    # from the Azure-AsyncOperation URL (az exits non-zero only when that URL reports Failed).
    body["properties"]["provisioningState"] = "Accepted"
    return handlers.ArmResponse(200 if existing else 201, body, headers)


def _dependencies(result: Any) -> list[dict[str, Any]]:
    return dependencies(result.plan) if result.plan is not None else []


# ---- actions ---------------------------------------------------------------------------------------
def validate(ctx: RequestContext, doc: dict[str, Any] | None, body: Any) -> tuple[int, Any]:
    parsed = parse_deployment_body(body)
    scope = _scope(ctx, parsed)
    try:
        result = validate_template(parsed["template"], parsed["parameters"], scope=scope,
                                   host=_host(ctx))
    except TemplateError as exc:
        raise _template_error(exc) from exc
    rid = ctx.rid
    return 200, {
        "id": rid.id, "name": rid.name, "type": "Microsoft.Resources/deployments",
        "properties": {"provisioningState": "Succeeded", "timestamp": ctx.timestamp(),
                       "correlationId": str(uuid.uuid4()), "mode": parsed["mode"],
                       "parameters": result.parameters, "dependencies": result.dependencies,
                       "providers": _providers(result.validated_resources),
                       "validatedResources": [{"id": i} for i in result.validated_resources],
                       "templateHash": template_hash(parsed["template"])},
    }


def run_what_if(ctx: RequestContext, doc: dict[str, Any] | None, body: Any) -> tuple[int, Any]:
    parsed = parse_deployment_body(body)
    scope = _scope(ctx, parsed)
    host = _host(ctx)
    try:
        plan = plan_deployment(parsed["template"], parsed["parameters"], scope=scope, host=host)
    except TemplateError as exc:
        raise _template_error(exc) from exc
    result_format = (parsed["whatIfSettings"] or {}).get("resultFormat", "FullResourcePayloads")
    return 200, what_if(plan, host, parsed["mode"], scope, result_format)


def cancel(ctx: RequestContext, doc: dict[str, Any], _body: Any) -> tuple[int, Any]:
    state = doc["properties"].get("provisioningState")
    if state in TERMINAL:
        raise ArmError(409, "DeploymentCannotBeCancelled",
                       f"The deployment '{doc['name']}' is in state '{state}' and cannot be cancelled.")
    doc["properties"]["provisioningState"] = "Canceled"
    doc.pop("_finalState", None)
    ctx.repo.update_body(doc["id"], doc)
    ctx.emu.operations.cancel_for(doc["id"])
    return 204, None


def export_template(ctx: RequestContext, doc: dict[str, Any], _body: Any) -> tuple[int, Any]:
    return 200, {"template": doc.get("_template", {})}
