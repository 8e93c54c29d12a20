"""`Microsoft.Devices/provisioningServices`: the Device Provisioning Service's control plane.

Server-side properties follow the real service: `idScope` (`0ne` + 8 upper-case hex digits,
generated once, unique), `serviceOperationsHostName` (`{name}.azure-devices-provisioning.{suffix}`),
`deviceProvisioningHostName` (the emulator's public host, standing in for
`global.azure-devices-provisioning.net`), `state: Active`, `allocationPolicy` (default `Hashed`),
and a `provisioningserviceowner` shared-access policy with generated keys. The response also
carries the top-level `resourcegroup` and `subscriptionid` fields DPS adds. Names are global,
case-insensitively (409 `ProvisioningServiceNameNotAvailable`).

Keys: as for IoT hubs (see `provider.resources.keys`), responses leave `authorizationPolicies` out;
`POST .../listkeys` and `POST .../keys/{keyName}/listkeys` reveal them, and a PUT without
policies keeps the stored ones.

Linked hubs (`properties.iotHubs`): each connection string must parse, name the host of a hub
that exists in the emulator, and carry a key that hub really has under that
`SharedAccessKeyName` (400 with target `properties.iotHubs[i].connectionString` otherwise).
`name` is read-only and set to the hub's host name. Responses echo the connection string with
the key masked as `SharedAccessKey=****`, as the real service does; a PUT that sends such a
masked string back (GET-modify-PUT, `az iot dps linked-hub create`) keeps the stored key of the
same hub and key name.

ADR link (written from 2025-02-01-preview to 2026-06-01-preview): `properties.deviceRegistryNamespace` =
`{resourceId, authenticationType: UserAssigned|SystemAssigned, selectedUserAssignedIdentityResourceId}`.
The namespace must exist (404 `LinkedResourceNotFound`, malformed id 400 `LinkedInvalidPropertyId`)
and be in the DPS instance's region (400 `LocationMismatch`, adr-howto §4.5); `UserAssigned`
needs the selected identity attached to the DPS (400 `LinkedIdentityNotAssigned`), `SystemAssigned`
needs a system-assigned identity on the DPS. PUTs at other api-versions keep an existing link
(they cannot write it). Older versions do not show it; 2026-11-01 shows it read-only as
`properties.deviceRegistryNamespaces` (one entry, with `namespaceUuid`, `dataAddress`, `location`
and `linkingState`), because from that version on the namespace links the DPS.
"""

from __future__ import annotations

import secrets
from typing import Any

from marshmallow import fields, validate

from provider import access_policies, api_versions
from provider.arm.context import RequestContext
from provider.arm.envelope import normalize_location
from provider.arm.errors import (
    ArmError,
    invalid_content,
    linked_identity_not_assigned,
    linked_invalid_property_id,
    linked_resource_not_found,
)
from provider.arm.ids import try_parse_resource_id
from provider.arm.resource_type import Action, NameRule, register
from provider.arm.schemas import BaseSchema, ManagedIdentity, TrackedBody
from provider.dps.backend import DPS_TYPE
from provider.resources import access_keys as keys
from provider.resources.identities import apply_identity, has_system_identity, is_attached
from provider.resources.iothubs import NAMESPACE_TYPE, namespace_data_plane_host, namespace_side_link

DPS_API_VERSIONS = api_versions.PROVISIONING_SERVICES
# `properties.deviceRegistryNamespace` = {resourceId, authenticationType, selected...}, written in the DPS PUT
NAMESPACE_LINK_VERSIONS = api_versions.since(DPS_API_VERSIONS, "2025-02-01-preview", "2026-06-01-preview")
# `properties.deviceRegistryNamespaces`: a read-only list (the namespace links the DPS) with uuid, address, state
READ_ONLY_LINK_VERSIONS = api_versions.since(DPS_API_VERSIONS, "2026-11-01")
DPS_RIGHTS = ("ServiceConfig", "EnrollmentRead", "EnrollmentWrite", "DeviceConnect", "RegistrationStatusRead",
              "RegistrationStatusWrite")
DEFAULT_POLICIES = (("provisioningserviceowner", "ServiceConfig, DeviceConnect, EnrollmentWrite"),)


# ---- body schemas ---------------------------------------------------------------------------------
class DpsSku(BaseSchema):
    name = fields.String(required=True, validate=validate.OneOf(["S1"], error="The only DPS SKU is 'S1'."))
    capacity = fields.Integer(validate=validate.Range(min=1, max=10))


class IotHubDefinition(BaseSchema):
    connectionString = fields.String(required=True, validate=validate.Length(min=1))
    location = fields.String(required=True, validate=validate.Length(min=1))
    allocationWeight = fields.Integer(allow_none=True)
    applyAllocationPolicy = fields.Boolean(allow_none=True)


class DeviceRegistryNamespace(BaseSchema):
    resourceId = fields.String(required=True, validate=validate.Length(min=1))
    authenticationType = fields.String(required=True, validate=validate.OneOf(["UserAssigned", "SystemAssigned"]))
    selectedUserAssignedIdentityResourceId = fields.String(allow_none=True)


class DpsProperties(BaseSchema):
    iotHubs = fields.List(fields.Nested(IotHubDefinition), allow_none=True)
    allocationPolicy = fields.String(validate=validate.OneOf(["Hashed", "GeoLatency", "Static"]))
    authorizationPolicies = fields.List(fields.Nested(keys.AuthorizationPolicy), allow_none=True)
    ipFilterRules = fields.List(fields.Dict())
    publicNetworkAccess = fields.String(validate=validate.OneOf(["Enabled", "Disabled"]))
    enableDataResidency = fields.Boolean()
    portalOperationsHostName = fields.String()


class DpsPropertiesWithNamespace(DpsProperties):
    deviceRegistryNamespace = fields.Nested(DeviceRegistryNamespace, allow_none=True)


class DpsBody(TrackedBody):
    sku = fields.Nested(DpsSku, required=True)
    identity = fields.Nested(ManagedIdentity, allow_none=True)
    properties = fields.Nested(DpsProperties)


class DpsBodyWithNamespace(DpsBody):
    properties = fields.Nested(DpsPropertiesWithNamespace)


# ---- the resource type ----------------------------------------------------------------------------
@register
class ProvisioningServices(keys.KeyedService):
    namespace = "Microsoft.Devices"
    type_path = ("provisioningServices",)
    api_versions = DPS_API_VERSIONS
    name_rule = NameRule(r"^[A-Za-z0-9-]+$", 3, 64, "Use letters, digits and '-'.")
    put_schemas = (DpsBody, DpsBodyWithNamespace)
    linking_versions = frozenset(NAMESPACE_LINK_VERSIONS)
    actions = {
        "listkeys": Action(keys.list_keys, long_running=False),
        "keys/*/listkeys": Action(keys.key_for_name_action("keys", "provisioning service"), long_running=False),
    }
    description = "An Azure IoT Hub Device Provisioning Service instance."
    name_availability_action = "checkProvisioningServiceNameAvailability"
    name_check = staticmethod(lambda ctx, body: dps_name_availability(ctx, body))

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        check_unique_name(ctx, doc)
        doc["sku"] = {"name": doc["sku"]["name"], "tier": "Standard", "capacity": int(doc["sku"].get("capacity") or 1)}
        apply_identity(ctx, doc, existing)
        props = doc["properties"]
        previous = (existing or {}).get("properties") or {}
        props["authorizationPolicies"] = keys.merge_policies(
            props.get("authorizationPolicies"), previous.get("authorizationPolicies"), DEFAULT_POLICIES, DPS_RIGHTS)
        props["iotHubs"] = linked_hub_entries(ctx, props.get("iotHubs") or [], previous.get("iotHubs") or [])
        if ctx.api_version in NAMESPACE_LINK_VERSIONS:
            link = props.pop("deviceRegistryNamespace", None)
            if link:
                props["deviceRegistryNamespace"] = check_namespace_link(ctx, doc, link)
        elif previous.get("deviceRegistryNamespace"):
            props["deviceRegistryNamespace"] = previous["deviceRegistryNamespace"]
        props["state"] = "Active"
        props["idScope"] = previous.get("idScope") or new_id_scope(ctx)
        props["serviceOperationsHostName"] = ctx.emu.dps_service_host_name(doc["name"])
        props["deviceProvisioningHostName"] = ctx.emu.dps_device_host_name
        props.setdefault("allocationPolicy", "Hashed")

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        """PATCH only changes tags; nothing server-side to recompute."""

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        ctx.emu.dps.forget(doc)

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        props = doc.get("properties") or {}
        props.pop("authorizationPolicies", None)
        for entry in props.get("iotHubs") or []:
            entry["connectionString"] = access_policies.mask_connection_string(entry.get("connectionString", ""))
        link = props.pop("deviceRegistryNamespace", None)
        if link and (not api_version or api_version in NAMESPACE_LINK_VERSIONS):
            props["deviceRegistryNamespace"] = link
        elif api_version in READ_ONLY_LINK_VERSIONS:
            if not link and (side := namespace_side_link(ctx, doc, "provisioning")):
                identity = side["identityResourceId"]
                link = {"resourceId": side["namespaceResourceId"],
                        "authenticationType": "UserAssigned" if identity else "SystemAssigned",
                        **({"selectedUserAssignedIdentityResourceId": identity} if identity else {})}
            props["deviceRegistryNamespaces"] = [read_only_link_view(ctx, link)] if link else []
        rid_parts = doc["id"].split("/")
        doc["subscriptionid"] = rid_parts[2]
        doc["resourcegroup"] = rid_parts[4]
        return doc


# ---- validation pieces ----------------------------------------------------------------------------
def check_unique_name(ctx: RequestContext, doc: dict[str, Any]) -> None:
    wanted = doc["name"].lower()
    for other in ctx.emu.dps.all():
        if other["name"].lower() == wanted and other["id"].lower() != doc["id"].lower():
            raise ArmError(409, "ProvisioningServiceNameNotAvailable",
                           f"The provisioning service name '{doc['name']}' is not available: names are global "
                           "across subscriptions and resource groups.", target="name")


def new_id_scope(ctx: RequestContext) -> str:
    taken = {((d.get("properties") or {}).get("idScope") or "").lower() for d in ctx.emu.dps.all()}
    while True:
        scope = "0ne" + secrets.token_hex(4).upper()
        if scope.lower() not in taken:
            return scope


def linked_hub_entries(ctx: RequestContext, requested: list[dict[str, Any]],
                       previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate `properties.iotHubs`: every connection string must open a hub that exists."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, entry in enumerate(requested):
        target = f"properties.iotHubs[{i}].connectionString"

        def refuse(message: str, target: str = target) -> ArmError:
            return ArmError(400, "InvalidIotHubConnectionString", message, target=target)

        try:
            parts = access_policies.parse_connection_string(entry["connectionString"])
        except ValueError as exc:
            raise refuse(f"The IoT hub connection string could not be parsed: {exc}.") from None
        host, key_name, key = (parts.get("HostName"), parts.get("SharedAccessKeyName"), parts.get("SharedAccessKey"))
        if not (host and key_name and key):
            raise refuse("The IoT hub connection string needs HostName, SharedAccessKeyName and SharedAccessKey.")
        hub = ctx.emu.hub.for_connection_host(host)
        if hub is None:
            raise refuse(f"No IoT hub with host name '{host}' exists in the emulator.")
        hub_host = ctx.emu.hub_host_name(hub["name"])
        if hub_host in seen:
            raise refuse(f"The IoT hub '{hub_host}' is linked more than once.")
        seen.add(hub_host)
        connection = entry["connectionString"]
        if key == access_policies.MASK:
            stored = _previous_connection(previous, hub_host, key_name)
            if stored is None:
                raise refuse("A masked key ('****') can only be sent back for a hub that is already linked with "
                             "that key name.")
            connection, key = stored, access_policies.parse_connection_string(stored)["SharedAccessKey"]
        policy = access_policies.find_policy((hub.get("properties") or {}).get("authorizationPolicies"), key_name)
        if policy is None:
            raise refuse(f"The IoT hub '{hub_host}' has no shared access policy '{key_name}'.")
        if key not in (policy.get("primaryKey"), policy.get("secondaryKey")):
            raise refuse(f"The SharedAccessKey is not a key of policy '{key_name}' on IoT hub '{hub_host}'.")
        stored_entry: dict[str, Any] = {"connectionString": connection,
                                        "location": normalize_location(entry["location"]), "name": hub_host}
        for optional in ("allocationWeight", "applyAllocationPolicy"):
            if entry.get(optional) is not None:
                stored_entry[optional] = entry[optional]
        out.append(stored_entry)
    return out


def _previous_connection(previous: list[dict[str, Any]], hub_host: str, key_name: str) -> str | None:
    for entry in previous:
        try:
            parts = access_policies.parse_connection_string(entry.get("connectionString", ""))
        except ValueError:
            continue
        if (entry.get("name", "").lower() == hub_host
                and parts.get("SharedAccessKeyName", "").lower() == key_name.lower()):
            return entry["connectionString"]
    return None


def check_namespace_link(ctx: RequestContext, dps: dict[str, Any], link: dict[str, Any]) -> dict[str, Any]:
    target = "properties.deviceRegistryNamespace"
    namespace_id = link["resourceId"]
    rid = try_parse_resource_id(namespace_id)
    if rid is None or rid.type_key != NAMESPACE_TYPE:
        raise linked_invalid_property_id(
            f"Property id '{namespace_id}' at path '{target}.resourceId' is invalid. Expect the id of a "
            "Microsoft.DeviceRegistry/namespaces resource.", target=f"{target}.resourceId")
    namespace = ctx.repo.get(rid.key)
    if namespace is None:
        raise linked_resource_not_found(
            f"The Device Registry namespace '{namespace_id}' linked by this provisioning service was not "
            "found.", target=f"{target}.resourceId")
    if namespace.get("location") and dps.get("location") and namespace["location"] != dps["location"]:
        raise ArmError(400, "LocationMismatch",
                       f"The provisioning service ({dps['location']}) must be in the same region as the Device "
                       f"Registry namespace ({namespace['location']}).", target=f"{target}.resourceId")
    out = {"resourceId": namespace_id, "authenticationType": link["authenticationType"]}
    selected = link.get("selectedUserAssignedIdentityResourceId")
    if link["authenticationType"] == "UserAssigned":
        if not selected:
            raise invalid_content("'selectedUserAssignedIdentityResourceId' is required with authenticationType "
                                  "'UserAssigned'.", target=f"{target}.selectedUserAssignedIdentityResourceId")
        if not is_attached(dps, selected):
            raise linked_identity_not_assigned(
                f"The identity '{selected}' must be one of the provisioning service's user-assigned "
                "identities (identity.userAssignedIdentities).",
                target=f"{target}.selectedUserAssignedIdentityResourceId")
        out["selectedUserAssignedIdentityResourceId"] = selected
    elif not has_system_identity(dps):
        raise linked_identity_not_assigned(
            "authenticationType 'SystemAssigned' needs a system-assigned identity on the provisioning "
            "service (identity.type SystemAssigned).", target=f"{target}.authenticationType")
    return out


def read_only_link_view(ctx: RequestContext | None, link: dict[str, Any]) -> dict[str, Any]:
    """The link as 2026-11-01 renders it: the stored fields plus the namespace's uuid, data address,
    location and `linkingState` (`Orphaned` once the namespace is gone)."""
    out = dict(link)
    namespace = ctx.repo.get(link["resourceId"].lower()) if ctx is not None else None
    if namespace is None:
        out["linkingState"] = "Orphaned"
        return out
    out["namespaceUuid"] = namespace["properties"]["uuid"]
    out["dataAddress"] = namespace_data_plane_host(ctx.emu, namespace)
    out["location"] = namespace.get("location", "")
    out["linkingState"] = "Succeeded"
    return out


def dps_name_availability(ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    """The answer to `POST .../checkProvisioningServiceNameAvailability` (for the front door)."""
    name = str(body.get("name") or "")
    try:
        ProvisioningServices.name_rule.check(name, DPS_TYPE)
    except ArmError as exc:
        return {"nameAvailable": False, "reason": "Invalid", "message": exc.message}
    if ctx.emu.dps.by_name(name) is not None:
        return {"nameAvailable": False, "reason": "AlreadyExists", "message": f"Name '{name}' is not available"}
    return {"nameAvailable": True}
