"""Shared-access keys and connection strings, as IoT Hub and DPS use them.

Both services keep a list of named authorization policies (`keyName`, `rights`, a primary and a
secondary key). The keys live in the stored resource document; responses leave them out and only
the `listkeys` actions reveal them, which is how the real services behave today. A PUT that does
not carry `authorizationPolicies` keeps the existing policies and keys, so a client that does
GET-modify-PUT (the SDKs, `az iot hub update`) never rotates keys by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from marshmallow import fields, validate

from provider.access_policies import find_policy
from provider.arm.errors import ArmError, invalid_content
from provider.arm.resource_type import ResourceType
from provider.arm.schemas import BaseSchema, TagsPatch
from provider.common import is_valid_access_key, new_access_key

ActionHandler = Callable[[Any, dict[str, Any], Any], tuple[int, Any]]

KEY_BYTES = 32
_KEY_NAME = re.compile(r"^[^\s;=]{1,64}$")


class AuthorizationPolicy(BaseSchema):
    """One entry of `properties.authorizationPolicies` in a PUT body."""

    keyName = fields.String(required=True, validate=validate.Regexp(_KEY_NAME))
    primaryKey = fields.String(allow_none=True)
    secondaryKey = fields.String(allow_none=True)
    rights = fields.String(required=True)


def new_key() -> str:
    """A fresh base64 key of 32 random bytes, the size the real services generate."""
    return new_access_key(KEY_BYTES)


is_valid_key = is_valid_access_key


def normalize_rights(value: str, allowed: Iterable[str], target: str) -> str:
    """`"RegistryRead,ServiceConnect"` -> `"RegistryRead, ServiceConnect"`; unknown rights are a 400."""
    canonical = {r.lower(): r for r in allowed}
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise invalid_content(f"The property '{target}' must name at least one right.",
                              target=target)
    out: list[str] = []
    for part in parts:
        right = canonical.get(part.lower())
        if right is None:
            raise invalid_content(
                f"The right '{part}' in '{target}' is not valid. Allowed rights: {', '.join(allowed)}.",
                target=target)
        if right not in out:
            out.append(right)
    return ", ".join(out)


def merge_policies(requested: list[dict[str, Any]] | None, existing: list[dict[str, Any]] | None,
                   defaults: Iterable[tuple[str, str]], allowed_rights: Iterable[str],
                   target: str = "properties.authorizationPolicies") -> list[dict[str, Any]]:
    """The policies to store after a PUT.

    No policies in the body: keep the existing ones (or create the defaults on create). Policies in
    the body replace the list; an entry without keys keeps the key of the same-named existing
    policy, or gets a new one.
    """
    allowed = tuple(allowed_rights)
    if not requested:
        if existing:
            return [dict(p) for p in existing]
        return [{"keyName": name, "primaryKey": new_key(), "secondaryKey": new_key(), "rights": rights}
                for name, rights in defaults]
    previous = {p["keyName"].lower(): p for p in existing or []}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, policy in enumerate(requested):
        name = policy["keyName"]
        if name.lower() in seen:
            raise invalid_content(f"The key name '{name}' appears more than once.",
                                  target=f"{target}[{i}].keyName")
        seen.add(name.lower())
        old = previous.get(name.lower(), {})
        entry = {"keyName": name}
        for field in ("primaryKey", "secondaryKey"):
            value = policy.get(field)
            if value:
                if not is_valid_key(value):
                    raise invalid_content(f"The {field} of policy '{name}' must be base64 of 16 to 64 bytes.",
                                          target=f"{target}[{i}].{field}")
                entry[field] = value
            else:
                entry[field] = old.get(field) or new_key()
        entry["rights"] = normalize_rights(policy["rights"], allowed, f"{target}[{i}].rights")
        out.append(entry)
    return out


# ---- the `listkeys` actions hubs and provisioning services share ---------------------------------
def full_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """A policy with its keys, as only `listkeys` answers (GET bodies never carry keys)."""
    return {"keyName": policy["keyName"], "primaryKey": policy["primaryKey"], "secondaryKey": policy["secondaryKey"],
            "rights": policy["rights"]}


def list_keys(ctx: Any, doc: dict[str, Any], _body: Any) -> tuple[int, Any]:
    """`POST .../listkeys`: every shared access policy with its keys."""
    policies = (doc.get("properties") or {}).get("authorizationPolicies") or []
    return 200, {"value": [full_policy(p) for p in policies]}


def key_for_name_action(marker: str, owner_noun: str) -> ActionHandler:
    """`POST .../{marker}/{keyName}/listkeys`: one policy with its keys, 404 `KeyNameNotFound` otherwise."""

    def handler(ctx: Any, doc: dict[str, Any], _body: Any) -> tuple[int, Any]:
        key_name = ctx.action_segment(marker) or ""
        policy = find_policy((doc.get("properties") or {}).get("authorizationPolicies"), key_name)
        if policy is None:
            raise ArmError(404, "KeyNameNotFound",
                           f"The key name '{key_name}' was not found on {owner_noun} '{doc['name']}'.")
        return 200, full_policy(policy)

    return handler


class KeyedService(ResourceType):
    """What IoT hubs and provisioning services share: keyed access policies behind `listkeys`, tags-only
    PATCH, a subscription-wide name check, and a richer PUT schema from the api-versions that link
    to Device Registry (`linking_versions`)."""

    list_at_subscription = True
    etag_in_body = True
    patch_schema = TagsPatch
    put_schemas: tuple[type[BaseSchema], type[BaseSchema]]  # (classic, with the Device Registry link)
    linking_versions: frozenset[str] = frozenset()
    name_check: Callable[[Any, dict[str, Any]], dict[str, Any]]

    def name_availability(self, ctx: Any, body: dict[str, Any]) -> dict[str, Any]:
        return type(self).name_check(ctx, body)

    def schema_for(self, method: str, api_version: str) -> type[BaseSchema] | None:
        if method != "PUT":
            return self.patch_schema
        classic, linking = self.put_schemas
        return linking if api_version in self.linking_versions else classic
