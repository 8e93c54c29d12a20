"""The parts of ARM that sit in front of every resource provider: subscriptions, provider
registration, locations, cloud metadata, group listings and the generic-resource fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request

from provider.arm import groups, handlers
from provider.arm.auth import caller_of  # noqa: F401  (re-exported for routes)
from provider.arm.errors import ArmError, group_not_found, invalid_content, path_not_found
from provider.arm.handlers import ArmResponse
from provider.arm.ids import is_top_level
from provider.arm.paging import DEFAULT_PAGE_SIZE, decode_skiptoken, page_response
from provider.arm.resource_type import ResourceType
from provider.common import cloud_metadata

if TYPE_CHECKING:
    from provider.arm.context import RequestContext
    from provider.state import Emulator

bp = Blueprint("frontdoor", __name__)

LOCATIONS = ("eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus",
             "southcentralus", "westcentralus", "northeurope", "westeurope", "uksouth", "francecentral",
             "germanywestcentral", "swedencentral", "switzerlandnorth", "eastasia", "southeastasia",
             "japaneast", "australiaeast", "canadacentral", "brazilsouth", "centralindia", "koreacentral")
ALWAYS_REGISTERED = ("Microsoft.Resources", "Microsoft.Authorization", "Microsoft.ManagedIdentity")


def _subscription_body(emu: Emulator, subscription: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{subscription}", "subscriptionId": subscription, "tenantId": emu.config.tenant_id,
        "displayName": "adr-emulator subscription", "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                 "spendingLimit": "Off"},
        "authorizationSource": "RoleBased", "managedByTenants": [], "tags": {},
    }


def known_subscriptions(emu: Emulator) -> list[str]:
    seen = {emu.config.subscription_id.lower(): emu.config.subscription_id}
    for row in emu.store.query("SELECT DISTINCT subscription FROM resources"):
        seen.setdefault(row["subscription"], row["subscription"])
    return list(seen.values())


def list_subscriptions(emu: Emulator) -> ArmResponse:
    return ArmResponse(200, {"value": [_subscription_body(emu, s) for s in known_subscriptions(emu)]})


def get_subscription(emu: Emulator, subscription: str) -> ArmResponse:
    """Every well-formed subscription id exists in the emulator (there is no billing to gate it)."""
    return ArmResponse(200, _subscription_body(emu, subscription))


def list_locations(emu: Emulator, subscription: str) -> ArmResponse:
    return ArmResponse(200, {"value": [
        {"id": f"/subscriptions/{subscription}/locations/{loc}", "name": loc, "displayName": loc,
         "regionalDisplayName": loc, "metadata": {"regionType": "Physical"}} for loc in LOCATIONS]})


def _registered(emu: Emulator, subscription: str | None, namespace: str) -> str:
    if subscription is None or namespace in ALWAYS_REGISTERED:
        return "Registered"
    state = emu.store.get_setting(f"provider:{subscription.lower()}:{namespace.lower()}")
    return state or "Registered"


def _provider_body(emu: Emulator, subscription: str | None, namespace: str,
                   types: list[ResourceType]) -> dict[str, Any]:
    prefix = f"/subscriptions/{subscription}" if subscription else ""
    resource_types = []
    for t in types:
        resource_types.append({"resourceType": "/".join(t.type_path), "locations": list(LOCATIONS),
                               "apiVersions": sorted(t.api_versions, reverse=True),
                               "capabilities": "SupportsTags, SupportsLocation" if t.tracked else "None"})
    resource_types.append({"resourceType": "operations", "locations": [],
                           "apiVersions": sorted({v for t in types for v in t.api_versions}, reverse=True)})
    resource_types.append({"resourceType": "locations/operationStatuses", "locations": list(LOCATIONS),
                           "apiVersions": sorted({v for t in types for v in t.api_versions}, reverse=True)})
    return {"id": f"{prefix}/providers/{namespace}", "namespace": namespace,
            "registrationState": _registered(emu, subscription, namespace),
            "registrationPolicy": "RegistrationRequired", "resourceTypes": resource_types}


def _namespaces(emu: Emulator) -> dict[str, list[ResourceType]]:
    out = {ns: [] for ns in ALWAYS_REGISTERED}
    for ns, types in emu.registry.namespaces().items():
        out.setdefault(ns, []).extend(types)
    return out


def list_providers(emu: Emulator, subscription: str | None) -> ArmResponse:
    return ArmResponse(200, {"value": [_provider_body(emu, subscription, ns, types)
                                       for ns, types in sorted(_namespaces(emu).items())]})


def _find_namespace(emu: Emulator, namespace: str) -> tuple[str, list[ResourceType]]:
    for ns, types in _namespaces(emu).items():
        if ns.lower() == namespace.lower():
            return ns, types
    raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")


def provider(emu: Emulator, subscription: str | None, namespace: str) -> ArmResponse:
    ns, types = _find_namespace(emu, namespace)
    return ArmResponse(200, _provider_body(emu, subscription, ns, types))


def register_provider(emu: Emulator, subscription: str, namespace: str, verb: str) -> ArmResponse:
    ns, types = _find_namespace(emu, namespace)
    state = "Registered" if verb == "register" else "Unregistered"
    emu.store.set_setting(f"provider:{subscription.lower()}:{ns.lower()}", state)
    return ArmResponse(200, _provider_body(emu, subscription, ns, types))


def provider_operations(emu: Emulator, namespace: str) -> ArmResponse:
    ns, types = _find_namespace(emu, namespace)
    value = []
    for t in types:
        type_name = "/".join((ns, *t.type_path))
        for verb, what in (("read", "Read"), ("write", "Create or update"), ("delete", "Delete")):
            value.append({"name": f"{type_name}/{verb}", "isDataAction": False,
                          "display": {"provider": ns, "resource": "/".join(t.type_path),
                                      "operation": f"{what} {t.type_path[-1]}",
                                      "description": f"{what} {type_name} resources."},
                          "origin": "user,system"})
        for action in t.actions:
            value.append({"name": f"{type_name}/{action}/action", "isDataAction": False,
                          "display": {"provider": ns, "resource": "/".join(t.type_path), "operation": action,
                                      "description": f"Run {action} on {type_name}."}, "origin": "user,system"})
    return ArmResponse(200, {"value": value})


def list_groups(ctx: RequestContext, subscription: str, top: int | None, skiptoken: str | None) -> ArmResponse:
    limit = max(1, min(top or DEFAULT_PAGE_SIZE, 1000))
    rows = ctx.emu.repo._rows("subscription = ? AND type = ?", (subscription.lower(), groups.GROUP_TYPE.lower()),
                              decode_skiptoken(skiptoken), limit + 1)
    return page_response(ctx, rows, limit, f"/subscriptions/{subscription}/resourcegroups", top, lambda d: d)


def delete_group(ctx: RequestContext, subscription: str, name: str) -> ArmResponse:
    """Deleting a group is long-running: 202 + Location, then everything inside is gone."""
    emu = ctx.emu
    doc = groups.get(emu, subscription, name)
    if doc is None:
        raise group_not_found(name)
    with emu.store.transaction():
        op = emu.operations.start(namespace="Microsoft.Resources", location=doc["location"],
                                  subscription=subscription, kind="deletegroup", resource_key=doc["id"].lower(),
                                  resource_id=doc["id"], running_status="Deleting", result_status=200)
        if emu.lro_mode.immediate:
            handlers.delete_group_and_contents(ctx, subscription, name)
        else:
            doc["properties"]["provisioningState"] = "Deleting"
            emu.repo.update_body(doc["id"], doc)
    location = f"{ctx.base_url}{emu.operations.result_path(op)}?api-version={ctx.api_version}"
    return ArmResponse(202, None, {"Location": location, "Retry-After": "0" if emu.lro_mode.immediate else "1"})


def list_resources(ctx: RequestContext, subscription: str, group: str | None) -> ArmResponse:
    """`GET .../resources`: every resource in a group (or subscription), generic shape."""
    emu = ctx.emu
    if group is not None and not groups.exists(emu, subscription, group):
        raise group_not_found(group)
    if group is not None:
        rows = emu.repo.in_group(subscription, group)
    else:
        rows = [r for r in emu.repo._rows("subscription = ? AND resource_group IS NOT NULL",
                                          (subscription.lower(),))]
    value = []
    for _, doc in rows:
        if not is_top_level(doc["id"]) or doc["type"].lower() == "microsoft.resources/deployments":
            continue
        item = {k: doc[k] for k in ("id", "name", "type", "location", "tags", "sku", "kind", "identity")
                if k in doc}
        value.append(item)
    return ArmResponse(200, {"value": value})


def check_name_availability(ctx: RequestContext, namespace: str, action: str, body: Any) -> ArmResponse:
    """`POST .../providers/{ns}/checkNameAvailability` (and per-type variants such as
    `checkProvisioningServiceNameAvailability`), answered by the type that declares the action."""
    if not isinstance(body, dict) or not body.get("name"):
        raise invalid_content("The request must carry 'name' (and 'type').", target="name")
    for rtype in ctx.emu.registry.types.values():
        if rtype.namespace.lower() == namespace.lower() and \
                (rtype.name_availability_action or "").lower() == action.lower():
            return ArmResponse(200, rtype.name_availability(ctx, body))
    return ArmResponse(200, {"nameAvailable": True})


def tenant_resources_call(ctx: RequestContext, parts: list[str], body: Any) -> ArmResponse:
    """Tenant-level `Microsoft.Resources` calls: `calculateTemplateHash` (others are not emulated)."""
    if len(parts) == 2 and parts[1].lower() == "calculatetemplatehash":
        import json

        from provider.templates import template_hash  # lazy: the template engine loads with its first use

        if not isinstance(body, dict):
            raise invalid_content("The request body must be a template (a JSON object).")
        return ArmResponse(200, {"minifiedTemplate": json.dumps(body, separators=(",", ":")),
                                 "templateHash": template_hash(body)})
    raise path_not_found(f"'/providers/{'/'.join(parts)}' is not emulated at tenant scope.")


@bp.route("/metadata/endpoints", methods=["GET"])
def metadata_endpoints() -> Response:
    """Cloud metadata as `az cloud register` reads it: one object, or the array of older api-versions."""
    import json

    emu = current_app.config["EMULATOR"]
    cloud = cloud_metadata(request.host_url.rstrip("/"), emu.config.tenant_id)
    version = request.args.get("api-version", "")
    body: Any = cloud if version >= "2020-06-01" or not version else [cloud]
    return Response(json.dumps(body), mimetype="application/json")
