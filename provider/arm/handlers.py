"""The generic ARM resource operations: PUT, PATCH, GET, DELETE, list and POST actions.

These functions know no resource type: they drive the type's declaration and hooks. They are
called by the HTTP routes and by the template engine alike, so a resource deployed by a template
goes through exactly the same validation and side effects as a direct REST call.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from provider.arm import api_versions, groups
from provider.arm.context import RequestContext
from provider.arm.envelope import new_etag, normalize_location, system_data
from provider.arm.errors import (
    ArmError,
    conflict,
    group_not_found,
    invalid_content,
    location_required,
    method_not_allowed,
    not_found,
    operation_not_found,
    parent_not_found,
    path_not_found,
    precondition_failed,
    resource_not_found,
)
from provider.arm.ids import ResourceId, parse_resource_id, parse_scope, try_parse_resource_id
from provider.arm.resource_type import Action, ResourceType

if TYPE_CHECKING:
    from provider.state import Emulator

@dataclass
class ArmResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# ---- helpers ------------------------------------------------------------------------------------
def check_api_version(ctx: RequestContext, rtype: ResourceType) -> None:
    api_versions.check_api_version(ctx.api_version, rtype.api_versions, ctx.emu.config.skip_api_version_check,
                                   f"'{rtype.full_type}'")


def check_conditions(existing: dict[str, Any] | None, if_match: str | None, if_none_match: str | None,
                     method: str) -> None:
    """ARM's If-Match / If-None-Match table (peers.md §6.2)."""
    if if_match:
        if existing is None:
            if method == "PATCH":
                return  # the 404 follows
            raise precondition_failed("The resource does not exist, so If-Match cannot be satisfied.")
        if if_match.strip() != "*" and if_match.strip() not in _etag_variants(existing.get("etag")):
            raise precondition_failed(f"The condition If-Match '{if_match}' does not match the current ETag.")
    if if_none_match and if_none_match.strip() == "*" and existing is not None and method == "PUT":
        raise precondition_failed("The resource already exists (If-None-Match: *).")


def _etag_variants(etag: str | None) -> set[str]:
    if not etag:
        return set()
    bare = etag.strip('"')
    return {etag, bare, f'"{bare}"', f'W/"{bare}"'}


def check_scope(ctx: RequestContext, rid: ResourceId) -> None:
    """The resource group, the extension scope and every parent must exist."""
    emu = ctx.emu
    if rid.resource_group and not groups.exists(emu, rid.subscription, rid.resource_group):
        raise group_not_found(rid.resource_group)
    scope_rid = try_parse_resource_id(rid.scope)
    if scope_rid is not None and not emu.repo.exists(scope_rid.key):
        raise resource_not_found(f"The scope '{rid.scope}' of this resource was not found.", target="scope")
    parent = rid.parent
    chain = []
    while parent is not None:
        chain.append(parent)
        parent = parent.parent
    for ancestor in reversed(chain):
        if emu.registry.find(ancestor.full_type) is None:
            continue  # a path segment that is not a resource of its own (IotHubs/eventHubEndpoints)
        if not emu.repo.exists(ancestor.key):
            raise parent_not_found(ancestor.full_type, "/".join(ancestor.names))


def check_name(rtype: ResourceType, rid: ResourceId) -> None:
    if rtype.fixed_names is not None:
        if rid.name.lower() not in (n.lower() for n in rtype.fixed_names):
            raise ArmError(400, "InvalidResourceName",
                           f"The resource name '{rid.name}' is invalid for type '{rtype.full_type}': "
                           f"the only allowed name is '{rtype.fixed_names[0]}'.", target="name")
        return
    rtype.name_rule.check(rid.name, rtype.full_type)


def render(ctx: RequestContext, rtype: ResourceType, doc: dict[str, Any]) -> dict[str, Any]:
    """The response body: the type's view of the stored document at the caller's api-version."""
    body = {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("_")}  # `_x`: internal state
    if not rtype.etag_in_body:
        body.pop("etag", None)
    return rtype.view(ctx, body, ctx.api_version)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def lro_headers(ctx: RequestContext, op: dict[str, Any], *, async_op: bool, location: bool) -> dict[str, str]:
    ops = ctx.emu.operations
    headers = {"Retry-After": "0" if immediate(ctx) else "1"}
    query = f"?api-version={ctx.api_version}"
    if async_op:
        headers["Azure-AsyncOperation"] = ctx.base_url + ops.status_id(op) + query
    if location:
        headers["Location"] = ctx.base_url + ops.result_path(op) + query
    return headers


def immediate(ctx: RequestContext) -> bool:
    """Whether writes finish at once: `--lro immediate`, or a write made by a template deployment
    (the deployment engine waits for each resource, so the deployment's own operation is the one
    that follows the `--lro` mode)."""
    return ctx.via_deployment or ctx.emu.lro_mode.immediate


def start_operation(ctx: RequestContext, rtype: ResourceType, rid: ResourceId, kind: str, location: str | None,
              running_status: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("immediate", immediate(ctx))
    return ctx.emu.operations.start(
        namespace=rtype.namespace, location=normalize_location(location or ctx.emu.config.location),
        subscription=rid.subscription, kind=kind, resource_key=rid.key, resource_id=rid.id,
        running_status=running_status, **kwargs)


def resource_location(ctx: RequestContext, rid: ResourceId) -> str:
    """The location used in operation URLs: the resource's, its nearest tracked ancestor's, or the default."""
    probe: ResourceId | None = rid
    while probe is not None:
        doc = ctx.emu.repo.get(probe.key)
        if doc and doc.get("location"):
            return doc["location"]
        probe = probe.parent
    return ctx.emu.config.location


def load_body(schema: Any, body: Any, partial: bool = False) -> dict[str, Any]:
    """A request body validated with the type's marshmallow schema (400 with `target` otherwise)."""
    from provider.arm import schemas  # lazy: marshmallow loads with the first write, not at start-up

    return schemas.load_body(schema, body, partial=partial)


# ---- the one write path ---------------------------------------------------------------------------
def _store(ctx: RequestContext, rtype: ResourceType, rid: ResourceId, doc: dict[str, Any],
           existing: dict[str, Any] | None, *, pending: bool) -> None:
    """stamp -> store -> after_write, after the type's `prepare` has run (the caller's transaction)."""
    doc.setdefault("properties", {})["provisioningState"] = "Accepted" if pending else "Succeeded"
    doc["systemData"] = system_data(ctx, existing)
    doc["etag"] = new_etag()
    ctx.emu.repo.put(rid, doc)
    rtype.after_write(ctx, doc, existing)


def write_internal(ctx: RequestContext, rtype: ResourceType, rid: ResourceId, body: dict[str, Any]) -> dict[str, Any]:
    """A write made by the emulator itself (a device DPS provisions, a certificate the Device
    Registry sync pushes, a hub's default consumer group): the same prepare -> stamp -> store ->
    after_write as a REST PUT, in the caller's transaction, without the request-level checks (the
    writer is trusted, the body is not a client's). Returns the stored document."""
    inner = replace(ctx, rid=rid)
    with ctx.emu.store.transaction():
        existing = ctx.emu.repo.get(rid.key)
        doc: dict[str, Any] = {"id": rid.id, "name": rid.name, "type": rtype.full_type, **copy.deepcopy(body)}
        doc.setdefault("properties", {})
        rtype.prepare(inner, doc, existing)
        _store(inner, rtype, rid, doc, existing, pending=False)
        return ctx.emu.repo.get(rid.key) or doc


def delete_internal(ctx: RequestContext, rtype: ResourceType, doc: dict[str, Any]) -> None:
    """The emulator's own delete of a resource (sync replacing a certificate, a template in Complete
    mode): the type's guard, the reference check and the clean-up hooks, as a REST DELETE runs them."""
    with ctx.emu.store.transaction():
        rtype.before_delete(ctx, doc)
        refuse_if_referenced(ctx, doc)
        delete_now(ctx, doc)


# ---- operations ---------------------------------------------------------------------------------
def put_resource(ctx: RequestContext, rtype: ResourceType, body: Any, if_match: str | None = None,
                 if_none_match: str | None = None) -> ArmResponse:
    rid = ctx.rid
    assert rid is not None
    if rtype.read_only:
        raise method_not_allowed(f"'{rtype.full_type}' resources are read-only.")
    if rtype.custom_put is not None:
        return rtype.custom_put(ctx, rtype, body, if_match, if_none_match)
    check_api_version(ctx, rtype)
    check_name(rtype, rid)
    emu = ctx.emu
    with emu.store.transaction():
        check_scope(ctx, rid)
        existing = emu.repo.get(rid.key)
        check_conditions(existing, if_match, if_none_match, "PUT")
        if existing and existing.get("properties", {}).get("provisioningState") == "Deleting":
            raise conflict(f"The resource '{rid.id}' is being deleted.")
        data = load_body(rtype.schema_for("PUT", ctx.api_version), body)
        doc: dict[str, Any] = {"id": rid.id, "name": rid.name, "type": rtype.full_type}
        if rtype.tracked:
            location = data.get("location")
            if not location:
                if rtype.location_required and not (existing and existing.get("location")):
                    raise location_required("The location property is required for this definition.", target="location")
                location = (existing or {}).get("location") or ""
            if location:
                normalized = normalize_location(location)
                if existing and existing.get("location") and existing["location"] != normalized:
                    raise ArmError(400, "InvalidResourceLocation",
                                   f"The resource '{rid.name}' already exists in location '{existing['location']}'. "
                                   "A resource with the same name cannot be created in another location.",
                                   target="location")
                doc["location"] = normalized
            doc["tags"] = data.get("tags") or {}
        for name in rtype.envelope_fields:
            if data.get(name) is not None:
                doc[name] = data[name]
        doc["properties"] = dict(data.get("properties") or {})
        rtype.prepare(ctx, doc, existing)
        _store(ctx, rtype, rid, doc, existing, pending=rtype.lro.put and not immediate(ctx))
        headers: dict[str, str] = {}
        if rtype.lro.put:
            op = start_operation(ctx, rtype, rid, "put", doc.get("location") or resource_location(ctx, rid), "Accepted")
            headers.update(lro_headers(ctx, op, async_op=True, location=False))
        stored = emu.repo.get(rid.key) or doc
    headers["ETag"] = stored["etag"]
    return ArmResponse(200 if existing else rtype.create_status, render(ctx, rtype, stored), headers)


def patch_resource(ctx: RequestContext, rtype: ResourceType, body: Any, if_match: str | None = None) -> ArmResponse:
    rid = ctx.rid
    assert rid is not None
    if rtype.read_only or not rtype.supports_patch:
        raise method_not_allowed(f"'{rtype.full_type}' resources do not support PATCH.")
    check_api_version(ctx, rtype)
    emu = ctx.emu
    with emu.store.transaction():
        check_scope(ctx, rid)
        existing = emu.repo.get(rid.key)
        check_conditions(existing, if_match, None, "PATCH")
        if existing is None:
            raise not_found(rtype.full_type, "/".join(rid.names), rid.resource_group)
        data = load_body(rtype.schema_for("PATCH", ctx.api_version), body, partial=False)
        merged = copy.deepcopy(existing)
        for name in ("tags", *rtype.envelope_fields):
            if name in data and name in (*rtype.patchable_envelope, "identity", "sku"):
                merged[name] = data[name] if name == "tags" else merge_patch(merged.get(name), data[name])
        if "properties" in data:
            merged["properties"] = merge_patch(merged.get("properties") or {}, data["properties"])
        rtype.prepare_patch(ctx, merged, data)
        pending = rtype.lro.patch and not immediate(ctx)
        _store(ctx, rtype, rid, merged, existing, pending=pending)
        stored = emu.repo.get(rid.key) or merged
        if pending:
            op = start_operation(ctx, rtype, rid, "patch", resource_location(ctx, rid), "Accepted")
            return ArmResponse(202, None, lro_headers(ctx, op, async_op=False, location=True))
    return ArmResponse(200, render(ctx, rtype, stored), {"ETag": stored["etag"]})


def get_resource(ctx: RequestContext, rtype: ResourceType) -> ArmResponse:
    rid = ctx.rid
    assert rid is not None
    check_api_version(ctx, rtype)
    ctx.emu.operations.settle_due()
    builtin = rtype.builtin_documents(ctx, rid.scope)
    if builtin is not None:
        doc = next((d for d in builtin if d["name"].lower() == rid.name.lower()), None)
    else:
        doc = ctx.emu.repo.get(rid.key)
    if doc is None:
        check_scope(ctx, rid)
        raise not_found(rtype.full_type, "/".join(rid.names), rid.resource_group)
    return ArmResponse(200, render(ctx, rtype, doc), {"ETag": doc.get("etag", "")})


def delete_resource(ctx: RequestContext, rtype: ResourceType, if_match: str | None = None) -> ArmResponse:
    rid = ctx.rid
    assert rid is not None
    if rtype.read_only:
        raise method_not_allowed(f"'{rtype.full_type}' resources are read-only.")
    check_api_version(ctx, rtype)
    emu = ctx.emu
    with emu.store.transaction():
        if rid.resource_group and not groups.exists(emu, rid.subscription, rid.resource_group):
            raise group_not_found(rid.resource_group)
        existing = emu.repo.get(rid.key)
        check_conditions(existing, if_match, None, "DELETE")
        if existing is None:
            return ArmResponse(204)
        rtype.before_delete(ctx, existing)
        refuse_if_referenced(ctx, existing)
        if not rtype.lro.delete:
            delete_now(ctx, existing)
            return ArmResponse(200)
        if immediate(ctx):
            op = start_operation(ctx, rtype, rid, "delete", resource_location(ctx, rid), "Deleting", result_status=204)
        else:
            existing.setdefault("properties", {})["provisioningState"] = "Deleting"
            emu.repo.update_body(rid.key, existing)
            op = start_operation(ctx, rtype, rid, "delete", resource_location(ctx, rid), "Deleting", result_status=204)
    return ArmResponse(202, None, lro_headers(ctx, op, async_op=True, location=True))


def refuse_if_referenced(ctx: RequestContext, doc: dict[str, Any]) -> None:
    """409 when another resource declares a blocking reference to `doc` (or to something inside it)."""
    target = doc["id"].lower()
    blockers = []
    for rtype in ctx.emu.registry.types.values():
        if type(rtype).blocking_references is ResourceType.blocking_references:
            continue
        for other in ctx.emu.repo.of_type(rtype.key):
            refs = [r.lower().rstrip("/") for r in rtype.blocking_references(other)]
            if any(r == target or r.startswith(target + "/") for r in refs):
                blockers.append(other["id"])
    if blockers:
        raise conflict(f"The resource '{doc['id']}' cannot be deleted while these resources refer to it: "
                       f"{', '.join(blockers)}. Delete or unlink them first.", target="id")


# Data-plane state that hangs off a resource (hub devices, DPS enrollments) registers a clean-up here.
DELETE_LISTENERS: list = []


def delete_now(ctx: RequestContext, doc: dict[str, Any]) -> None:
    """Remove a resource and everything nested under it, running each type's clean-up hook."""
    emu = ctx.emu
    with emu.store.transaction():
        for item in [*emu.repo.descendants(doc["id"]), doc]:
            item_rid = try_parse_resource_id(item["id"])
            item_type = emu.registry.find(item_rid.full_type) if item_rid else None
            if item_type is not None:
                item_type.after_delete(ctx, item)
            for listener in DELETE_LISTENERS:
                listener(ctx, item)
            emu.repo.delete(item["id"])


def delete_group_and_contents(ctx: RequestContext, subscription: str, name: str) -> None:
    """Delete every resource in the group (deepest first, running clean-up hooks), then the group."""
    emu = ctx.emu
    with emu.store.transaction():
        doc = groups.get(emu, subscription, name)
        if doc is None:
            return
        for _, item in reversed(emu.repo.in_group(subscription, name)):
            if emu.repo.exists(item["id"]):
                delete_now(ctx, item)
        emu.repo.delete(doc["id"])


def complete_operation(emu: Emulator, kind: str, resource_key: str | None, status: str = "Succeeded") -> None:
    """The final transition of an operation (see `provider.arm.lro`)."""
    if not resource_key:
        return
    if kind == "deletegroup":
        subscription, group = parse_scope(resource_key)
        if group:
            delete_group_and_contents(RequestContext(emu, None, "", ""), subscription, group)
        return
    doc = emu.repo.get(resource_key)
    if doc is None:
        return
    if kind == "delete" and status == "Succeeded":
        rid = parse_resource_id(doc["id"])
        delete_now(RequestContext(emu, rid, "", ""), doc)
    elif kind in ("put", "patch"):
        final = doc.pop("_finalState", None) or ("Failed" if status == "Failed" else "Succeeded")
        doc.setdefault("properties", {})["provisioningState"] = final
        emu.repo.update_body(resource_key, doc)


def find_action(rtype: ResourceType, action_path: str) -> tuple[str, Action] | None:
    for name, action in rtype.actions.items():
        if fnmatch.fnmatch(action_path.lower(), name.lower()):
            return name, action
    return None


def post_action(ctx: RequestContext, rtype: ResourceType, action_path: str, body: Any) -> ArmResponse:
    rid = ctx.rid
    assert rid is not None
    check_api_version(ctx, rtype)
    found = find_action(rtype, action_path)
    if found is None:
        raise path_not_found(f"The action '{action_path}' is not supported on '{rtype.full_type}'.")
    name, action = found
    ctx.action_path = action_path
    api_versions.check_api_version(ctx.api_version, action.api_versions, ctx.emu.config.skip_api_version_check,
                                   f"the action '{name}'")
    emu = ctx.emu
    with emu.store.transaction():
        check_scope(ctx, rid)
        doc = emu.repo.get(rid.key)
        if doc is None and name not in rtype.actions_without_resource:
            raise not_found(rtype.full_type, "/".join(rid.names), rid.resource_group)
        if action.requires_body and not body:
            raise invalid_content(f"The action '{name}' requires a request body.")
        data = load_body(action.schema, body) if action.schema else body
        status, result = action.handler(ctx, doc, data)
        if not action.long_running:
            return ArmResponse(status, result)
        op = start_operation(ctx, rtype, rid, "action", resource_location(ctx, rid), "Accepted",
                       result_status=status, result=result)
    return ArmResponse(202, None, lro_headers(ctx, op, async_op=False, location=True))


def operation_result(ctx: RequestContext, op_id: str) -> ArmResponse:
    """GET on a `Location` URL: 202 while running, then exactly what a synchronous call returns."""
    emu = ctx.emu
    row = emu.operations.poll(op_id)
    if row is None:
        raise operation_not_found(f"The operation '{op_id}' was not found.")
    if row["status"] not in ("Succeeded", "Failed", "Canceled"):
        return ArmResponse(202, None, lro_headers(ctx, row, async_op=False, location=True))
    if row["status"] == "Failed":
        error = json.loads(row["error"]) if row["error"] else {"code": "Failed", "message": "The operation failed."}
        return ArmResponse(400, {"error": error})
    if row["kind"] in ("put", "patch") and row["resource_key"]:
        doc = emu.repo.get(row["resource_key"])
        rid = try_parse_resource_id(doc["id"]) if doc else None
        rtype = emu.registry.find(rid.full_type) if rid else None
        if doc and rtype:
            return ArmResponse(200, render(ctx, rtype, doc))
    if row["kind"] == "delete":
        return ArmResponse(204)
    result = json.loads(row["result"]) if row["result"] else None
    return ArmResponse(row["result_status"] or (200 if result is not None else 204), result)


def operation_status(ctx: RequestContext, op_id: str) -> ArmResponse:
    row = ctx.emu.operations.poll(op_id)
    if row is None:
        raise operation_not_found(f"The operation '{op_id}' was not found.")
    headers = {} if row["status"] in ("Succeeded", "Failed", "Canceled") else {"Retry-After": "1"}
    return ArmResponse(200, ctx.emu.operations.status_body(row), headers)
