"""`Microsoft.Devices/IotHubs`: the IoT hub's control plane, and lookups the data planes use.

What the emulator returns is shaped like the real service's answers:

- Server-side properties: `hostName` (`{name}.azure-devices.{suffix}`), `state: Active`, the
  built-in `events` Event Hub endpoint (partition ids, path, an `sb://` endpoint), `locations`,
  and defaults for `routing`, `cloudToDevice`, `storageEndpoints`, `messagingEndpoints`,
  `features` and `enableFileUploadNotifications` when the body leaves them out. `sku.tier` is
  derived from `sku.name`.
- Shared-access policies: `iothubowner`, `service`, `device`, `registryRead` and
  `registryReadWrite` with generated 32-byte keys. **GET (and the PUT/PATCH responses) leave
  `authorizationPolicies` out**: the current service returns it as null and the SDKs, the CLI
  (`az iot hub policy list`) and templates (`listKeys(...)`) read keys only through
  `POST .../listkeys` and `POST .../IotHubKeys/{keyName}/listkeys`. A PUT without
  `authorizationPolicies` therefore keeps the stored policies and keys; a PUT with them replaces
  the list (entries without keys keep the same-named policy's keys or get new ones).
- Connection strings of routing endpoints are echoed with their keys masked (`****`).
- Names are globally unique, case-insensitively, across every subscription and group
  (409 `IotHubNameNotAvailable`), and must be 3-50 letters, digits and single hyphens, not all
  digits.
- `identity`: SystemAssigned gets a stable generated principal; every user-assigned entry must
  exist and is echoed with its `principalId`/`clientId`.
- ADR link (written from 2025-08-01-preview to 2026-08-01-preview, SKU `GEN2`): `properties.deviceRegistry` =
  `{namespaceResourceId, identityResourceId}`. The namespace must exist (404
  `LinkedResourceNotFound`; a malformed id is 400 `LinkedInvalidPropertyId`), and the identity must
  be one of the hub's user-assigned identities (400 `LinkedIdentityNotAssigned`). A linked
  namespace cannot be deleted while the hub exists (`blocking_references`). The SKU tier cannot
  change between GEN2 and the classic tiers, nor from Standard down to Basic. From 2026-10-01-preview
  the link is read-only (the namespace links the hub): PUTs keep it, and responses render it as
  `{namespaceResourceId, namespaceUuid, dataPlaneHostName, identity: {type, userAssignedIdentity},
  linkingProperties: {state}}`. Versions before 2025-08-01-preview neither write nor show it.

Error codes chosen where the real service's are not documented: `InvalidSku` (bad or
version-unsupported `sku.name`), `DeviceRegistryRequiresGen2Sku`, `KeyNameNotFound`.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import fields, validate

from provider import api_versions
from provider.arm import handlers
from provider.arm.context import RequestContext
from provider.arm.errors import (
    ArmError,
    invalid_content,
    invalid_sku,
    linked_identity_not_assigned,
    linked_invalid_property_id,
    linked_resource_not_found,
)
from provider.arm.ids import parse_resource_id, try_parse_resource_id
from provider.arm.resource_type import Action, NameRule, register
from provider.arm.schemas import BaseSchema, ManagedIdentity, TrackedBody
from provider.hub.backend import (
    CONSUMER_GROUP_TYPE,
    DEFAULT_CONSUMER_GROUP,
    EVENTS_ENDPOINT,
    HUB_TYPE,
    HubBackend,
)
from provider.resources import access_keys as keys
from provider.resources.identities import apply_identity, is_attached

HUB_API_VERSIONS = api_versions.IOT_HUBS
# `properties.deviceRegistry` = {namespaceResourceId, identityResourceId}, written in the hub PUT
DEVICE_REGISTRY_VERSIONS = api_versions.since(HUB_API_VERSIONS, "2025-08-01-preview", "2026-08-01-preview")
# `properties.deviceRegistry` read-only (the namespace links the hub), with uuid, host, identity and link state
READ_ONLY_LINK_VERSIONS = api_versions.since(HUB_API_VERSIONS, "2026-10-01-preview")
GEN2_VERSIONS = (*DEVICE_REGISTRY_VERSIONS, *READ_ONLY_LINK_VERSIONS)
SKU_TIERS = {"F1": "Free", "S1": "Standard", "S2": "Standard", "S3": "Standard", "B1": "Basic", "B2": "Basic",
             "B3": "Basic", "GEN2": "Generation2"}
HUB_RIGHTS = ("RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect")
DEFAULT_POLICIES = (("iothubowner", "RegistryWrite, ServiceConnect, DeviceConnect"),
                    ("service", "ServiceConnect"),
                    ("device", "DeviceConnect"),
                    ("registryRead", "RegistryRead"),
                    ("registryReadWrite", "RegistryWrite"))
NAMESPACE_TYPE = "microsoft.deviceregistry/namespaces"


# ---- body schemas ---------------------------------------------------------------------------------
class HubSku(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1))
    capacity = fields.Integer(validate=validate.Range(min=1, max=200))  # templates may send "1"


class EventHubEndpoint(BaseSchema):
    retentionTimeInDays = fields.Integer(validate=validate.Range(min=1, max=7))
    partitionCount = fields.Integer(validate=validate.Range(min=2, max=128))


class FeedbackProperties(BaseSchema):
    lockDurationAsIso8601 = fields.String()
    ttlAsIso8601 = fields.String()
    maxDeliveryCount = fields.Integer(validate=validate.Range(min=1, max=100))


class CloudToDevice(BaseSchema):
    maxDeliveryCount = fields.Integer(validate=validate.Range(min=1, max=100))
    defaultTtlAsIso8601 = fields.String()
    feedback = fields.Nested(FeedbackProperties)


class DeviceRegistryLink(BaseSchema):
    namespaceResourceId = fields.String(allow_none=True)
    identityResourceId = fields.String(allow_none=True)


class HubProperties(BaseSchema):
    authorizationPolicies = fields.List(fields.Nested(keys.AuthorizationPolicy), allow_none=True)
    eventHubEndpoints = fields.Dict(keys=fields.String(), values=fields.Nested(EventHubEndpoint))
    routing = fields.Dict()
    storageEndpoints = fields.Dict()
    messagingEndpoints = fields.Dict()
    enableFileUploadNotifications = fields.Boolean()
    cloudToDevice = fields.Nested(CloudToDevice)
    comments = fields.String()
    features = fields.String(validate=validate.OneOf(["None", "DeviceManagement"]))
    ipFilterRules = fields.List(fields.Dict())
    networkRuleSets = fields.Dict()
    minTlsVersion = fields.String()
    disableLocalAuth = fields.Boolean()
    disableDeviceSAS = fields.Boolean()
    disableModuleSAS = fields.Boolean()
    restrictOutboundNetworkAccess = fields.Boolean()
    allowedFqdnList = fields.List(fields.String())
    publicNetworkAccess = fields.String(validate=validate.OneOf(["Enabled", "Disabled"]))
    enableDataResidency = fields.Boolean()
    rootCertificate = fields.Dict()
    ipVersion = fields.String(validate=validate.OneOf(["ipv4", "ipv6", "ipv4ipv6"]))
    deviceStreams = fields.Dict()
    encryption = fields.Dict()


class HubPropertiesWithRegistry(HubProperties):
    deviceRegistry = fields.Nested(DeviceRegistryLink, allow_none=True)


class HubBody(TrackedBody):
    sku = fields.Nested(HubSku, required=True)
    identity = fields.Nested(ManagedIdentity, allow_none=True)
    properties = fields.Nested(HubProperties)


class HubBodyWithRegistry(HubBody):
    properties = fields.Nested(HubPropertiesWithRegistry)


# ---- defaults -------------------------------------------------------------------------------------
def _default_routing() -> dict[str, Any]:
    return {"endpoints": {"serviceBusQueues": [], "serviceBusTopics": [], "eventHubs": [], "storageContainers": []},
            "routes": [],
            "fallbackRoute": {"name": "$fallback", "source": "DeviceMessages", "condition": "true",
                              "endpointNames": [EVENTS_ENDPOINT], "isEnabled": True}}


def _default_cloud_to_device() -> dict[str, Any]:
    return {"maxDeliveryCount": 10, "defaultTtlAsIso8601": "PT1H",
            "feedback": {"lockDurationAsIso8601": "PT1M", "ttlAsIso8601": "PT1H", "maxDeliveryCount": 10}}


def _default_messaging_endpoints() -> dict[str, Any]:
    return {"fileNotifications": {"lockDurationAsIso8601": "PT1M", "ttlAsIso8601": "PT1H", "maxDeliveryCount": 10}}


def _default_storage_endpoints() -> dict[str, Any]:
    return {"$default": {"sasTtlAsIso8601": "PT1H", "connectionString": "", "containerName": ""}}


_SECRET_PART = re.compile(r"((?:AccountKey|SharedAccessKey)=)[^;]*", re.IGNORECASE)


def _mask_secrets(value: Any) -> Any:
    """Mask `AccountKey=`/`SharedAccessKey=` inside every `connectionString` of a routing block."""
    if isinstance(value, dict):
        return {k: (_SECRET_PART.sub(r"\1****", v) if k == "connectionString" and isinstance(v, str)
                    else _mask_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secrets(v) for v in value]
    return value


# ---- the resource type ----------------------------------------------------------------------------
@register
class IotHubs(keys.KeyedService):
    namespace = "Microsoft.Devices"
    type_path = ("IotHubs",)
    api_versions = HUB_API_VERSIONS
    name_rule = NameRule(r"^(?![0-9]+$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$", 3, 50,
                         "Use letters, digits and single hyphens, not only digits, starting and ending with a "
                         "letter or digit.")
    put_schemas = (HubBody, HubBodyWithRegistry)
    linking_versions = frozenset(DEVICE_REGISTRY_VERSIONS)
    actions = {
        "listkeys": Action(keys.list_keys, long_running=False),
        "IotHubKeys/*/listkeys": Action(keys.key_for_name_action("IotHubKeys", "IoT hub"), long_running=False),
    }
    description = "An Azure IoT hub."
    name_availability_action = "checkNameAvailability"
    name_check = staticmethod(lambda ctx, body: hub_name_availability(ctx, body))

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        check_unique_name(ctx, doc)
        sku = doc["sku"] = check_sku(ctx, doc["sku"], existing)
        apply_identity(ctx, doc, existing)
        props = doc["properties"]
        previous = (existing or {}).get("properties") or {}
        props["authorizationPolicies"] = keys.merge_policies(
            props.get("authorizationPolicies"), previous.get("authorizationPolicies"), DEFAULT_POLICIES, HUB_RIGHTS)
        link = props.pop("deviceRegistry", None)
        if ctx.api_version not in DEVICE_REGISTRY_VERSIONS:
            link = previous.get("deviceRegistry")  # a version that cannot write the link keeps it
            if link:
                props["deviceRegistry"] = link
        elif link and (link.get("namespaceResourceId") or link.get("identityResourceId")):
            props["deviceRegistry"] = check_device_registry_link(ctx, doc, sku, link)
        props["state"] = "Active"
        props["hostName"] = ctx.emu.hub_host_name(doc["name"])
        props["eventHubEndpoints"] = event_hub_endpoints(ctx, doc, props.get("eventHubEndpoints") or {},
                                                         previous.get("eventHubEndpoints") or {})
        routing = props.get("routing") or {}
        default_routing = _default_routing()
        routing.setdefault("endpoints", {})
        for kind, empty in default_routing["endpoints"].items():
            routing["endpoints"].setdefault(kind, empty)
        routing.setdefault("routes", [])
        routing.setdefault("fallbackRoute", default_routing["fallbackRoute"])
        props["routing"] = routing
        props.setdefault("storageEndpoints", _default_storage_endpoints())
        props.setdefault("messagingEndpoints", _default_messaging_endpoints())
        props.setdefault("enableFileUploadNotifications", False)
        props.setdefault("cloudToDevice", _default_cloud_to_device())
        props.setdefault("features", "None")
        props["locations"] = [{"location": doc.get("location", ""), "role": "primary"}]

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        """PATCH only changes tags; nothing server-side to recompute."""

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        ensure_default_consumer_group(ctx, doc)
        ctx.emu.adr.sync_new_link(ctx, ctx.emu.hub.linked_namespace_id(doc))

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        ctx.emu.hub.forget(doc)

    def blocking_references(self, doc: dict[str, Any]) -> list[str]:
        namespace_id = HubBackend.stored_link(doc)
        return [namespace_id] if namespace_id else []

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        props = doc.get("properties") or {}
        props.pop("authorizationPolicies", None)
        link = props.pop("deviceRegistry", None)
        if link and (not api_version or api_version in DEVICE_REGISTRY_VERSIONS):
            props["deviceRegistry"] = link
        elif api_version in READ_ONLY_LINK_VERSIONS:
            link = link or namespace_side_link(ctx, doc, "messaging")
            if link:
                props["deviceRegistry"] = read_only_link_view(ctx, link)
        for name in ("routing", "storageEndpoints"):
            if name in props:
                props[name] = _mask_secrets(props[name])
        return doc


# ---- validation pieces ----------------------------------------------------------------------------
def check_unique_name(ctx: RequestContext, doc: dict[str, Any]) -> None:
    other = ctx.emu.hub.by_name(doc["name"])
    if other is not None and other["id"].lower() != doc["id"].lower():
        raise ArmError(409, "IotHubNameNotAvailable",
                       f"IotHub name '{doc['name']}' is not available: an IoT hub with this name already exists "
                       "(hub names are global across subscriptions and resource groups).", target="name")


def check_sku(ctx: RequestContext, sku: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    allowed = [n for n in SKU_TIERS if n != "GEN2" or ctx.api_version in GEN2_VERSIONS]
    name = next((n for n in allowed if n.lower() == str(sku.get("name", "")).lower()), None)
    if name is None:
        raise invalid_sku(f"The SKU '{sku.get('name')}' is not valid for api-version '{ctx.api_version}'. Valid SKUs: "
                          f"{', '.join(allowed)}.", target="sku.name")
    tier = SKU_TIERS[name]
    old_tier = ((existing or {}).get("sku") or {}).get("tier")
    if old_tier and old_tier != tier and ("Generation2" in (old_tier, tier) or (old_tier, tier) == ("Standard",
                                                                                                     "Basic")):
        raise invalid_sku(f"The SKU tier cannot change from {old_tier} to {tier}.", target="sku.name")
    return {"name": name, "tier": tier, "capacity": int(sku.get("capacity") or 1)}


def check_device_registry_link(ctx: RequestContext, hub: dict[str, Any], sku: dict[str, Any],
                               link: dict[str, Any]) -> dict[str, Any]:
    """Validate `properties.deviceRegistry`: a GEN2 (or Standard) hub, an existing namespace, an attached identity.

    The docs tie the link to GEN2; Standard tiers are accepted too (docs/divergences.md) because
    templates in the field link S1 hubs. Free and Basic hubs are refused.
    """
    target = "properties.deviceRegistry"
    if sku["name"] not in ("GEN2", "S1", "S2", "S3"):
        raise ArmError(400, "DeviceRegistryRequiresGen2Sku",
                       f"Linking an Azure Device Registry namespace needs an IoT hub with SKU GEN2, not "
                       f"'{sku['name']}'.", target="sku.name")
    namespace_id = link.get("namespaceResourceId") or ""
    rid = try_parse_resource_id(namespace_id)
    if rid is None or rid.type_key != NAMESPACE_TYPE:
        raise linked_invalid_property_id(
            f"Property id '{namespace_id}' at path '{target}.namespaceResourceId' is invalid. Expect the "
            "id of a Microsoft.DeviceRegistry/namespaces resource.", target=f"{target}.namespaceResourceId")
    if not ctx.repo.exists(rid.key):
        raise linked_resource_not_found(
            f"The Device Registry namespace '{namespace_id}' linked by this IoT hub was not found.",
            target=f"{target}.namespaceResourceId")
    identity_id = link.get("identityResourceId") or ""
    if not identity_id:
        raise invalid_content("'identityResourceId' is required with 'namespaceResourceId': it names the user-assigned "
                              "identity the hub uses to reach the namespace.", target=f"{target}.identityResourceId")
    if not is_attached(hub, identity_id):
        raise linked_identity_not_assigned(
            f"The identity '{identity_id}' must be one of the hub's user-assigned identities "
            "(identity.userAssignedIdentities).", target=f"{target}.identityResourceId")
    return {"namespaceResourceId": namespace_id, "identityResourceId": identity_id}


def ensure_default_consumer_group(ctx: RequestContext, hub_doc: dict[str, Any]) -> None:
    """The built-in `events` endpoint's `$Default` consumer group, written when the hub is first written."""
    rid = parse_resource_id(hub_doc["id"]).child("eventHubEndpoints", EVENTS_ENDPOINT).child(
        "ConsumerGroups", DEFAULT_CONSUMER_GROUP)
    rtype = ctx.emu.registry.find(CONSUMER_GROUP_TYPE)
    if rtype is not None and not ctx.repo.exists(rid.key):
        handlers.write_internal(ctx, rtype, rid, {})


def read_only_link_view(ctx: RequestContext | None, link: dict[str, Any]) -> dict[str, Any]:
    """The link as 2026-10-01-preview and newer render it: the namespace's uuid and data-plane host, the
    identity as `{type, userAssignedIdentity}`, and `linkingProperties.state` (`Orphaned` once the
    namespace is gone, which its delete guard normally prevents)."""
    out: dict[str, Any] = {"namespaceResourceId": link["namespaceResourceId"]}
    namespace = ctx.repo.get(link["namespaceResourceId"].lower()) if ctx is not None else None
    if namespace is not None:
        out["namespaceUuid"] = namespace["properties"]["uuid"]
        out["dataPlaneHostName"] = namespace_data_plane_host(ctx.emu, namespace)
    identity_id = link.get("identityResourceId")
    out["identity"] = ({"type": "UserAssigned", "userAssignedIdentity": identity_id} if identity_id
                       else {"type": "SystemAssigned"})
    out["linkingProperties"] = {"state": "Success" if namespace is not None else "Orphaned"}
    return out


def namespace_side_link(ctx: RequestContext | None, doc: dict[str, Any], section: str) -> dict[str, Any] | None:
    """A GA namespace's endpoint naming this hub (`messaging`) or DPS (`provisioning`), in the shape of
    the resource's own link: `{namespaceResourceId, identityResourceId}`."""
    if ctx is None:
        return None
    namespace = ctx.emu.adr.namespace_linking(doc["id"], section)
    if namespace is None:
        return None
    endpoint = ctx.emu.adr.linked_endpoint(namespace, doc["id"], section) or {}
    identity = endpoint.get("inboundCallerIdentity") or {}
    return {"namespaceResourceId": namespace["id"], "identityResourceId": identity.get("userAssignedIdentity")}


def namespace_data_plane_host(emu: Any, namespace: dict[str, Any]) -> str:
    """The host name the newest hub and DPS versions give for a linked namespace's data plane
    (`{uuid}.deviceregistry.{suffix}`; the emulator serves no ADR data plane there, docs/divergences.md)."""
    return f"{namespace['properties']['uuid']}.deviceregistry.{emu.config.hostname_suffix}"


def event_hub_endpoints(ctx: RequestContext, hub: dict[str, Any], requested: dict[str, Any],
                        previous: dict[str, Any]) -> dict[str, Any]:
    """The built-in `events` endpoint; its partition count is fixed once the hub exists."""
    asked = next((v for k, v in requested.items() if k.lower() == EVENTS_ENDPOINT), {}) or {}
    old = previous.get(EVENTS_ENDPOINT) or {}
    default_count = 2 if hub["sku"]["name"] == "F1" else 4
    count = old.get("partitionCount") or asked.get("partitionCount") or default_count
    if old and asked.get("partitionCount") and asked["partitionCount"] != old["partitionCount"]:
        raise invalid_content(
            f"The partition count of the 'events' endpoint cannot change after creation "
            f"(it is {old['partitionCount']}).", target="properties.eventHubEndpoints.events.partitionCount")
    name = hub["name"].lower()
    return {EVENTS_ENDPOINT: {
        "retentionTimeInDays": asked.get("retentionTimeInDays") or old.get("retentionTimeInDays") or 1,
        "partitionCount": count,
        "partitionIds": [str(i) for i in range(count)],
        "path": name,
        "endpoint": f"sb://iothub-ns-{name}.servicebus.{ctx.config.hostname_suffix}/",
    }}


def hub_name_availability(ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    """The answer to `POST .../providers/Microsoft.Devices/checkNameAvailability` (for the front door)."""
    name = str(body.get("name") or "")
    try:
        IotHubs.name_rule.check(name, HUB_TYPE)
    except ArmError as exc:
        return {"nameAvailable": False, "reason": "Invalid", "message": exc.message}
    if ctx.emu.hub.by_name(name) is not None:
        return {"nameAvailable": False, "reason": "AlreadyExists",
                "message": f"IotHub name '{name}' is not available"}
    return {"nameAvailable": True}
