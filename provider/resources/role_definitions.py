"""`Microsoft.Authorization/roleDefinitions`: the built-in roles that setup scripts assign.

Read-only and not stored: every scope answers the same built-in definitions (ids under that
scope), so `az role assignment create --role "Contributor"` and templates that look a role up by
name resolve it. Listing honours `$filter=roleName eq '...'` as az sends it. Custom role
definitions are not emulated (PUT answers 405).
"""

from __future__ import annotations

import re
from typing import Any

from provider import api_versions
from provider.arm.context import RequestContext
from provider.arm.resource_type import LroSpec, ResourceType, register

# (role name, GUID, description) of the built-in roles the Device Registry, IoT Hub and DPS docs use
BUILTIN_ROLES = (
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Grants full access to manage all resources."),
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c",
     "Grants full access to manage all resources, but does not allow you to assign roles."),
    ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7", "View all resources, but does not allow you to make changes."),
    ("IoT Hub Registry Contributor", "4ea46cd5-c1b2-4a8e-910b-273211f9ce47",
     "Allows for full access to IoT Hub device registry."),
    ("IoT Hub Data Contributor", "4fc6c259-987e-4a07-842e-c321cc9d413f",
     "Allows for full access to IoT Hub data plane operations."),
    ("Azure Device Registry Contributor", "a5c3590a-3a1a-4cd4-9648-ea0a32b15137",
     "Allows for full access to Azure Device Registry resources."),
    ("User Access Administrator", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "Lets you manage user access."),
)
ROLE_DEFINITION_API_VERSIONS = api_versions.ROLE_DEFINITIONS
_ROLE_NAME_FILTER = re.compile(r"roleName\s+eq\s+'([^']*)'", re.IGNORECASE)


@register
class RoleDefinitions(ResourceType):
    namespace = "Microsoft.Authorization"
    type_path = ("roleDefinitions",)
    api_versions = ROLE_DEFINITION_API_VERSIONS
    tracked = False
    extension = True
    read_only = True
    list_at_subscription = True
    lro = LroSpec(put=False, patch=False, delete=False)
    description = "Built-in role definitions (read-only)."

    def builtin_documents(self, ctx: RequestContext, scope: str) -> list[dict[str, Any]]:
        subscription = scope.split("/")[2] if scope.lower().startswith("/subscriptions/") else ""
        return [{
            "id": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            "name": guid, "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": name, "type": "BuiltInRole", "description": description,
                           "assignableScopes": ["/"], "permissions": [{"actions": ["*"], "notActions": [],
                                                                       "dataActions": [], "notDataActions": []}]},
        } for name, guid, description in BUILTIN_ROLES]

    def list_filter(self, ctx: RequestContext, doc: dict[str, Any], scope_group: str | None) -> bool:
        match = _ROLE_NAME_FILTER.search(ctx.list_filter or "")
        return match is None or doc["properties"]["roleName"].lower() == match.group(1).lower()
