"""An in-memory DeploymentHost for the template engine tests.

It behaves like a small resource provider layer: stores bodies with `provisioningState:
Succeeded`, refuses a child whose top-level parent doesn't exist (so wrong deployment order
shows up as `ParentResourceNotFound`), fills in a few read-only properties real providers
return (IoT Hub hostName, DPS idScope, identity principal ids) and answers listKeys.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from typing import Any

from provider.templates import DEFAULT_ENVIRONMENT, ResourceWriteError
from provider.templates.ids import id_parts

SUB = "00000000-0000-0000-0000-000000000000"
TENANT = "11111111-1111-1111-1111-111111111111"


def _key(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def _principal(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


class FakeHost:
    def __init__(self, subscription_id: str = SUB, tenant_id: str = TENANT, location_default: str = "westus") -> None:
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.location_default = location_default
        self.groups: dict[str, dict[str, Any]] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_on: dict[str, ResourceWriteError] = {}  # lower-cased id or full type -> error to raise on PUT

    # -- helpers for tests --------------------------------------------------------------------
    def add_group(self, name: str, location: str = "westus", subscription_id: str | None = None) -> dict:
        sub = subscription_id or self.subscription_id
        group = {"id": f"/subscriptions/{sub}/resourceGroups/{name}", "name": name, "location": location,
                 "tags": {}, "properties": {"provisioningState": "Succeeded"}}
        self.groups[f"{sub}/{name}".lower()] = group
        return group

    def add_resource(self, resource_id: str, body: dict) -> None:
        parts = id_parts(resource_id)
        stored = {"id": resource_id, "name": str(parts["name"]).rsplit("/", 1)[-1], "type": parts["type"], **body}
        stored.setdefault("properties", {})["provisioningState"] = "Succeeded"
        self.resources[resource_id.lower()] = stored

    def puts(self) -> list[str]:
        return [rid for op, rid in self.calls if op == "PUT"]

    # -- DeploymentHost -----------------------------------------------------------------------
    def resource_group(self, subscription_id: str, name: str) -> dict | None:
        group = self.groups.get(f"{subscription_id}/{name}".lower())
        return copy.deepcopy(group) if group else None

    def get_resource(self, resource_id: str, api_version: str | None) -> dict | None:
        self.calls.append(("GET", resource_id))
        lowered = resource_id.lower()
        if lowered in self.resources:
            return copy.deepcopy(self.resources[lowered])
        parts = resource_id.strip("/").split("/")
        if len(parts) == 4 and parts[2].lower() == "resourcegroups":
            return self.resource_group(parts[1], parts[3])
        return None

    def put_resource(self, resource_id: str, body: dict, api_version: str) -> dict:
        self.calls.append(("PUT", resource_id))
        parts = id_parts(resource_id)
        full_type = str(parts["type"])
        injected = self.fail_on.get(resource_id.lower()) or self.fail_on.get(full_type.lower())
        if injected is not None:
            raise injected
        if full_type.lower() == "microsoft.resources/resourcegroups":
            location = body.get("location", self.location_default)
            group = self.add_group(str(parts["name"]), location, parts["subscription"])
            group["tags"] = body.get("tags") or {}
            return copy.deepcopy(group)
        if parts["resourceGroup"] and self.resource_group(str(parts["subscription"]), str(parts["resourceGroup"])) \
                is None:
            raise ResourceWriteError("ResourceGroupNotFound", f"Resource group '{parts['resourceGroup']}' could not "
                                     "be found.", 404, resource_id)
        self._check_parent(resource_id)
        name = str(parts["name"]).rsplit("/", 1)[-1]
        stored = {"id": resource_id, "name": name, "type": full_type, **copy.deepcopy(body)}
        props = stored.setdefault("properties", {})
        self._enrich(resource_id, full_type.lower(), name, stored, props)
        props["provisioningState"] = "Succeeded"
        self.resources[resource_id.lower()] = stored
        return copy.deepcopy(stored)

    def _check_parent(self, resource_id: str) -> None:
        lowered = resource_id.lower()
        marker = lowered.rfind("/providers/")
        head, tail = lowered[:marker], lowered[marker + len("/providers/") :]
        segments = tail.split("/")
        if len(segments) > 3:  # a child: its top-level resource must exist
            top = f"{head}/providers/{'/'.join(segments[:3])}"
            if top not in self.resources:
                raise ResourceWriteError("ParentResourceNotFound", "Can not perform requested operation on nested "
                                         f"resource. Parent resource '{segments[2]}' not found.", 404, resource_id)
        if "/providers/" in head and head not in self.resources:  # an extension resource: its target must exist
            raise ResourceWriteError("ResourceNotFound", f"The scope '{head}' does not exist.", 404, resource_id)

    def _enrich(self, resource_id: str, full_type: str, name: str, stored: dict, props: dict) -> None:
        identity = stored.get("identity")
        if isinstance(identity, dict) and "systemassigned" in str(identity.get("type", "")).lower():
            identity["principalId"] = _principal(resource_id + "/system")
            identity["tenantId"] = self.tenant_id
        if full_type == "microsoft.devices/iothubs":
            props["hostName"] = f"{name}.azure-devices.net"
            props["state"] = "Active"
        elif full_type == "microsoft.devices/provisioningservices":
            props["idScope"] = "0ne" + hashlib.sha256(resource_id.lower().encode()).hexdigest()[:8].upper()
            props["serviceOperationsHostName"] = f"{name}.azure-devices-provisioning.net"
            props["deviceProvisioningHostName"] = "global.azure-devices-provisioning.net"
        elif full_type == "microsoft.managedidentity/userassignedidentities":
            props["principalId"] = _principal(resource_id)
            props["clientId"] = _principal(resource_id + "/client")
            props["tenantId"] = self.tenant_id

    def delete_resource(self, resource_id: str, api_version: str | None) -> None:
        self.calls.append(("DELETE", resource_id))
        lowered = resource_id.lower()
        for key in [k for k in self.resources if k == lowered or k.startswith(lowered + "/")]:
            del self.resources[key]

    def post_action(self, resource_id: str, action: str, body: dict | None, api_version: str) -> dict:
        self.calls.append(("POST", f"{resource_id}/{action}"))
        parts = id_parts(resource_id)
        full_type = str(parts["type"]).lower()
        if action.lower() != "listkeys":
            raise ResourceWriteError("InvalidAction", f"The action '{action}' is not supported.", 400, resource_id)
        if full_type in ("microsoft.devices/iothubs/iothubkeys", "microsoft.devices/provisioningservices/keys"):
            owner, key_name = resource_id.rsplit("/", 2)[0], resource_id.rsplit("/", 1)[-1]
            if owner.lower() not in self.resources:
                raise ResourceWriteError("ResourceNotFound", f"The resource '{owner}' was not found.", 404, owner)
            return self._key_entry(owner, key_name)
        if resource_id.lower() not in self.resources:
            raise ResourceWriteError("ResourceNotFound", f"The resource '{resource_id}' was not found.", 404,
                                     resource_id)
        if full_type in ("microsoft.devices/iothubs", "microsoft.devices/provisioningservices"):
            names = ["iothubowner", "service", "device", "registryRead", "registryReadWrite"]
            if full_type.endswith("provisioningservices"):
                names = ["provisioningserviceowner"]
            return {"value": [self._key_entry(resource_id, n) for n in names]}
        if full_type == "microsoft.storage/storageaccounts":
            return {"keys": [{"keyName": n, "value": _key(resource_id + n), "permissions": "FULL"}
                             for n in ("key1", "key2")]}
        raise ResourceWriteError("InvalidAction", f"listKeys is not supported on '{full_type}'.", 400, resource_id)

    def _key_entry(self, owner: str, key_name: str) -> dict:
        return {"keyName": key_name, "primaryKey": _key(f"{owner.lower()}/{key_name}/1"),
                "secondaryKey": _key(f"{owner.lower()}/{key_name}/2"), "rights": "RegistryWrite, ServiceConnect"}

    def list_resource_ids_in_group(self, subscription_id: str, resource_group: str) -> list[str]:
        prefix = f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}/".lower()
        return [body["id"] for key, body in self.resources.items() if key.startswith(prefix)]

    def environment(self) -> dict:
        return copy.deepcopy(DEFAULT_ENVIRONMENT)


def scope_for(host: FakeHost, group: str | None = "rg1", name: str = "deploy1", location: str | None = None):
    """A DeploymentScope on the fake host (creating the group when given)."""
    from provider.templates import DeploymentScope

    if group is not None and host.resource_group(host.subscription_id, group) is None:
        host.add_group(group)
    return DeploymentScope(host.subscription_id, group, location, name, host.tenant_id)


def evaluate_expression(expression: Any, *, template: dict | None = None, parameters: dict | None = None,
                        host: FakeHost | None = None, group: str | None = "rg1", options: Any = None) -> Any:
    """Evaluate one JSON value (usually an expression string) inside a prepared template, as a resource body would."""
    from provider.templates.engine import prepare
    from provider.templates.evaluator import walk
    from provider.templates.runtime import TemplateRuntime

    host = host or FakeHost()
    template = template or {}
    template.setdefault("$schema", "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#")
    template.setdefault("contentVersion", "1.0.0.0")
    template.setdefault("resources", [] if template.get("languageVersion") != "2.0" else {})
    runtime = TemplateRuntime(template, parameters, scope_for(host, group), host, options)
    prepare(runtime)
    return walk(expression, runtime.runtime_context())
