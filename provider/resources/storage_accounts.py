"""`Microsoft.Storage/storageAccounts`, modelled only as far as IoT templates need it.

Real templates create a storage account next to a hub (routing endpoints, file upload) and read
its keys with `listKeys(...)`. The account is stored with the endpoints Azure would report (under
the emulator's host-name suffix) and two generated keys; no blob or queue service is emulated.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from marshmallow import fields, validate

from provider import api_versions
from provider.arm.context import RequestContext
from provider.arm.resource_type import Action, NameRule, ResourceType, register
from provider.arm.schemas import TagsPatch, TrackedBody

STORAGE_API_VERSIONS = api_versions.STORAGE_ACCOUNTS


class Sku(TrackedBody.__base__):  # type: ignore[misc]
    name = fields.String(required=True)


class StorageBody(TrackedBody):
    sku = fields.Nested(Sku, required=True)
    kind = fields.String(validate=validate.OneOf(["Storage", "StorageV2", "BlobStorage", "FileStorage",
                                                  "BlockBlobStorage"]))
    properties = fields.Dict()


def _key() -> str:
    return base64.b64encode(os.urandom(64)).decode()


def list_keys(ctx: RequestContext, doc: dict[str, Any], _body: Any) -> tuple[int, Any]:
    keys = doc["_keys"]
    return 200, {"keys": [{"keyName": "key1", "value": keys[0], "permissions": "FULL"},
                          {"keyName": "key2", "value": keys[1], "permissions": "FULL"}]}


@register
class StorageAccounts(ResourceType):
    namespace = "Microsoft.Storage"
    type_path = ("storageAccounts",)
    api_versions = STORAGE_API_VERSIONS
    list_at_subscription = True
    name_rule = NameRule(r"^[a-z0-9]+$", 3, 24, "Use 3 to 24 lower-case letters and digits.")
    put_schema = StorageBody
    patch_schema = TagsPatch
    actions = {"listKeys": Action(list_keys, long_running=False)}
    description = "A storage account (stored with keys and endpoints; no data plane)."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        doc["_keys"] = (existing or {}).get("_keys") or [_key(), _key()]
        doc.setdefault("kind", "StorageV2")
        suffix = ctx.config.hostname_suffix
        name = doc["name"]
        doc["properties"].update(
            primaryEndpoints={service: f"https://{name}.{service}.core.{suffix}/"
                              for service in ("blob", "queue", "table", "file", "dfs", "web")},
            primaryLocation=doc.get("location"), statusOfPrimary="available",
            creationTime=((existing or {}).get("properties") or {}).get("creationTime", ctx.timestamp()),
        )
