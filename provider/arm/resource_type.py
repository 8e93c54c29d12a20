"""The declaration every resource-type module makes, and the registry of them.

A resource type is one subclass of `ResourceType` in one module under `provider/resources/`:
its provider namespace and type path, api-versions, name rule, marshmallow schemas, which
operations are long-running, its actions, and hooks that run inside the write transaction.
The generic ARM layer (`provider/arm/handlers.py`) does everything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from provider.arm.errors import ArmError

if TYPE_CHECKING:
    from marshmallow import Schema

    from provider.arm.context import RequestContext


@dataclass(frozen=True)
class NameRule:
    """A resource name rule: length bounds and a pattern, with the message users see."""

    pattern: str = r"^[^<>%&:\\?/\x00-\x1f]+$"
    min_length: int = 1
    max_length: int = 260
    description: str = "The name may not contain '<', '>', '%', '&', ':', '\\', '?', '/' or control characters."

    def matches(self, name: str) -> bool:
        return self.min_length <= len(name) <= self.max_length and re.match(self.pattern, name) is not None

    def check(self, name: str, type_name: str) -> None:
        if not self.matches(name):
            raise ArmError(
                400, "InvalidResourceName",
                f"The resource name '{name}' is invalid for type '{type_name}'. It must be "
                f"{self.min_length} to {self.max_length} characters long. {self.description}",
                target="name",
            )


@dataclass(frozen=True)
class Action:
    """A POST action on a resource (`.../{name}/{action}`).

    `handler(ctx, resource, body) -> (status, body)`, run inside the request's transaction.
    `long_running`: answer 202 + Location (the result is served from the operation) unless the
    handler has nothing to report and `--lro immediate` is in force, in which case the declared
    synchronous status is used.
    """

    handler: Callable[[RequestContext, dict[str, Any], Any], tuple[int, Any]]
    long_running: bool = True
    schema: type[Schema] | None = None
    api_versions: tuple[str, ...] | None = None  # None = every version of the type
    requires_body: bool = False


@dataclass(frozen=True)
class LroSpec:
    """How the spec declares each write: long-running or not."""

    put: bool = True
    patch: bool = True
    delete: bool = True


class ResourceType:
    """Base class: subclass once per resource type and register it with `@register`."""

    namespace: ClassVar[str]
    type_path: ClassVar[tuple[str, ...]]
    api_versions: ClassVar[tuple[str, ...]]
    tracked: ClassVar[bool] = True  # tracked resources carry location and tags
    location_required: ClassVar[bool] = True
    name_rule: ClassVar[NameRule] = NameRule()
    fixed_names: ClassVar[tuple[str, ...] | None] = None  # singletons such as credentials/default
    etag_in_body: ClassVar[bool] = False
    list_at_subscription: ClassVar[bool] = False
    extension: ClassVar[bool] = False  # extension resource: may hang off any scope
    lro: ClassVar[LroSpec] = LroSpec()
    actions: ClassVar[dict[str, Action]] = {}
    put_schema: ClassVar[type[Schema] | None] = None
    patch_schema: ClassVar[type[Schema] | None] = None
    patchable_envelope: ClassVar[tuple[str, ...]] = ("tags",)
    envelope_fields: ClassVar[tuple[str, ...]] = ("identity", "sku", "kind", "extendedLocation")
    description: ClassVar[str] = ""
    create_status: ClassVar[int] = 201  # a few services answer 200 on create (IoT Hub consumer groups)
    # `POST /subscriptions/{s}/providers/{ns}/{action}` name checks this type answers, e.g. checkNameAvailability
    name_availability_action: ClassVar[str | None] = None
    supports_patch: ClassVar[bool] = True
    read_only: ClassVar[bool] = False  # children the service writes itself (deployment operations)
    actions_without_resource: ClassVar[tuple[str, ...]] = ()  # actions allowed before the resource exists
    # `custom_put(ctx, rtype, body, if_match, if_none_match) -> ArmResponse` replaces the generic PUT
    # for a type whose PUT is a process rather than a write (template deployments).
    custom_put: ClassVar[Any] = None

    def builtin_documents(self, ctx: RequestContext, scope: str) -> list[dict[str, Any]] | None:
        """Documents the service defines itself at `scope` (built-in role definitions), served read-only
        instead of stored ones; None for ordinary types."""
        return None

    def name_availability(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        """`{nameAvailable, reason, message}` for `name_availability_action`."""
        return {"nameAvailable": True}

    def list_filter(self, ctx: RequestContext, doc: dict[str, Any], scope_group: str | None) -> bool:
        """Whether `doc` belongs in a collection listing at the given scope."""
        return True

    # ---- declaration helpers ----------------------------------------------------------------
    @property
    def full_type(self) -> str:
        return "/".join((self.namespace, *self.type_path))

    @property
    def key(self) -> str:
        return self.full_type.lower()

    def schema_for(self, method: str, api_version: str) -> type[Schema] | None:
        """The marshmallow schema for a request body (override for per-version schemas)."""
        return self.put_schema if method == "PUT" else self.patch_schema

    def schema_versions(self) -> dict[str, dict[str, type[Schema]]]:
        """Distinct schemas per api-version and method, for `schemas/` generation."""
        out: dict[str, dict[str, type[Schema]]] = {}
        for version in self.api_versions:
            per_method = {m: s for m in ("PUT", "PATCH") if (s := self.schema_for(m, version)) is not None}
            out[version] = per_method
        return out

    # ---- hooks (run inside the write transaction) ----------------------------------------
    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        """Fill server-side fields of `doc` (create or replace) and enforce rules; raise ArmError."""

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        """Rules for an update; `doc` already holds the merged result."""
        self.prepare(ctx, doc, doc)

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        """Side effects of a create/replace/update (certificates, linked resources)."""

    def before_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        """Refuse a delete (raise ArmError 409) when something still depends on the resource."""

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        """Clean up what the resource owned (keys, certificates)."""

    def blocking_references(self, doc: dict[str, Any]) -> list[str]:
        """Ids of resources that may not be deleted while `doc` exists (e.g. a hub's linked namespace)."""
        return []

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        """The response body for `doc` at `api_version` (default: the stored document)."""
        return doc


@dataclass
class Registry:
    """All declared resource types, found by lower-cased full type (`microsoft.x/a/b`).

    The resource-type modules (and marshmallow with them) load on the first lookup rather than
    at start-up, so the emulator answers its health check sooner (see bench/startup.py).
    """

    _types: dict[str, ResourceType] = field(default_factory=dict)
    loader: Callable[[], None] | None = None
    _loaded: bool = False

    @property
    def types(self) -> dict[str, ResourceType]:
        if not self._loaded and self.loader is not None:
            self._loaded = True
            self.loader()
        return self._types

    def add(self, resource_type: ResourceType) -> None:
        self._types[resource_type.key] = resource_type

    def find(self, full_type: str) -> ResourceType | None:
        return self.types.get(full_type.lower())

    def has_prefix(self, full_type: str) -> bool:
        """True when `full_type` is a registered type or the start of one (`IotHubs/eventHubEndpoints`)."""
        key = full_type.lower()
        return any(k == key or k.startswith(key + "/") for k in self.types)

    def namespaces(self) -> dict[str, list[ResourceType]]:
        out: dict[str, list[ResourceType]] = {}
        for t in self.types.values():
            out.setdefault(t.namespace, []).append(t)
        return out


class GenericResourceType(ResourceType):
    """A type the emulator does not model: stored and echoed with `provisioningState: Succeeded`."""

    lro = ResourceType.lro
    api_versions = ()

    def __init__(self, full_type: str) -> None:
        namespace, *type_path = full_type.split("/")
        self.namespace = namespace
        self.type_path = tuple(type_path)
        self.location_required = False
        self.tracked = True


def generic_type_for(ctx: RequestContext, full_type: str) -> ResourceType:
    if ctx.emu.config.strict_resource_types:
        namespace = full_type.split("/")[0]
        raise ArmError(400, "NoRegisteredProviderFound",
                       f"No registered resource provider found for type '{full_type}' and api version "
                       f"'{ctx.api_version}' (namespace '{namespace}' is not emulated; the emulator runs with "
                       "--strict-resource-types).")
    return GenericResourceType(full_type)


def _load_all_resource_modules() -> None:
    import provider.resources  # noqa: F401  (each module registers its types)


REGISTRY = Registry(loader=_load_all_resource_modules)


def register(cls: type[ResourceType]) -> type[ResourceType]:
    """Class decorator: declare a resource type to the emulator."""
    REGISTRY.add(cls())
    return cls
