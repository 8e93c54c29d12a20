"""One template bound to a scope and a host: the `Environment` every function evaluates against.

It owns parameter binding, lazy memoised variables, user-defined functions, the scope objects
(`resourceGroup()`, `deployment()`...) and the runtime lookups (`reference`, `references`,
`list*`). Outer-scoped nested templates delegate parameters and variables to their parent.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from provider.templates import copyloops
from provider.templates.context import Environment, EvalContext, PreviewStats
from provider.templates.errors import (
    INVALID_TEMPLATE,
    RESOURCE_GROUP_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    Deferred,
    ExpressionError,
    ResourceWriteError,
    TemplateError,
)
from provider.templates.evaluator import walk
from provider.templates.host import DeploymentHost
from provider.templates.ids import build_id, id_parts, rg_scope, sub_scope
from provider.templates.model import DeploymentScope, EngineOptions
from provider.templates.parameters import TYPE_NAMES, ParameterBinder, SchemaError, TypeChecker
from provider.templates.resources import TEMPLATE_ONLY_KEYS, Instance, ResourceSet, located
from provider.templates.uniquestring import murmur64
from provider.templates.values import get_ci, has_key_ci

SUPPORTED_LANGUAGE_VERSIONS = ("1.0", "2.0", "1.10-experimental", "2.1-experimental")
DEFAULT_ENVIRONMENT = {
    "name": "AzureCloud",
    "gallery": "https://gallery.azure.com/",
    "graph": "https://graph.windows.net/",
    "portal": "https://portal.azure.com",
    "graphAudience": "https://graph.windows.net/",
    "activeDirectoryDataLake": "https://datalake.azure.net/",
    "batch": "https://batch.core.windows.net/",
    "media": "https://rest.media.azure.net",
    "sqlManagement": "https://management.core.windows.net:8443/",
    "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-"
                       "templates/aliases.json",
    "resourceManager": "https://management.azure.com/",
    "authentication": {
        "loginEndpoint": "https://login.microsoftonline.com/",
        "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
        "tenant": "common",
        "identityProvider": "AAD",
    },
    "suffixes": {
        "acrLoginServer": ".azurecr.io",
        "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
        "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
        "azureFrontDoorEndpointSuffix": "azurefd.net",
        "keyvaultDns": ".vault.azure.net",
        "sqlServerHostname": ".database.windows.net",
        "storage": "core.windows.net",
    },
}


def template_hash(template: Any) -> str:
    """A stable decimal hash of the minified template (ARM's own algorithm is not public)."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(murmur64(text.encode("utf-8")))


class TemplateRuntime(Environment):
    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, Any] | None,
        scope: DeploymentScope,
        host: DeploymentHost,
        options: EngineOptions | None = None,
        *,
        mode: str = "Incremental",
        parent: TemplateRuntime | None = None,
        outer: bool = False,
        depth: int = 0,
    ) -> None:
        if not isinstance(template, dict):
            raise TemplateError(INVALID_TEMPLATE, "The template must be a JSON object.")
        self.template = template
        version = get_ci(template, "languageVersion")
        if version is not None and version not in SUPPORTED_LANGUAGE_VERSIONS:
            raise TemplateError(INVALID_TEMPLATE, f"The template language version '{version}' is not supported. "
                                f"Supported versions: {', '.join(SUPPORTED_LANGUAGE_VERSIONS)}.",
                                target="languageVersion")
        self.language_version = version or "1.0"
        self.is_v2 = self.language_version.startswith("2") or self.language_version.startswith("1.10")
        self.scope = scope
        self.host = host
        self.options = options or EngineOptions()
        self.mode = mode
        self.parent = parent
        self.outer = outer
        self.depth = depth
        self.subscription_id = scope.subscription_id
        self.resource_group_name = scope.resource_group
        self.tenant_id = scope.tenant_id or getattr(host, "tenant_id", "") or ""
        self.scope_id = (rg_scope(scope.subscription_id, scope.resource_group) if scope.resource_group
                         else sub_scope(scope.subscription_id))
        self.now = self.options.now or (parent.now if parent else datetime.now(UTC))
        self._rg_cache: dict[str, Any] | None = None
        self.location = scope.location
        self.checker = TypeChecker(get_ci(template, "definitions"))
        self.binder = ParameterBinder(get_ci(template, "parameters") or {}, parameters or {}, self.checker,
                                      self._evaluate_default)
        self._variables = self._collect_variables()
        self._var_cache: dict[str, Any] = {}
        self._var_busy: set[str] = set()
        self._udfs = self._collect_functions()
        self.resources = ResourceSet(self)

    # ------------------------------------------------------------------ contexts
    def plan_context(self, location: str) -> EvalContext:
        """For names, conditions, copy counts, scopes: no runtime state allowed."""
        return EvalContext(self, location=location)

    def runtime_context(self, location: str = "this location") -> EvalContext:
        return EvalContext(self, allow_runtime=True, location=location)

    # ------------------------------------------------------------------ parameters
    def _evaluate_default(self, name: str, raw: Any) -> Any:
        ctx = EvalContext(self, allow_nondeterministic=True, allow_variables=False,
                          location=f"the default value of parameter '{name}'")
        try:
            return walk(raw, ctx)
        except TemplateError as exc:
            raise located(exc, f"parameters.{name}.defaultValue") from None

    def parameter(self, name: str, ctx: EvalContext) -> Any:
        if self.outer and self.parent is not None:
            return self.parent.parameter(name, ctx)
        return self.binder.value(name)

    def bind_parameters(self) -> None:
        if not (self.outer and self.parent is not None):
            self.binder.bind_all()

    def secret_values(self) -> list[str]:
        """String values of secure parameters (here and in enclosing deployments), for redaction."""
        found: list[str] = []

        def collect(value: Any) -> None:
            if isinstance(value, str) and len(value) >= 4:
                found.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    collect(item)
            elif isinstance(value, list):
                for item in value:
                    collect(item)

        for name, value in self.binder.values.items():
            if self.binder.is_secure(name):
                collect(value)
        if self.parent is not None:
            found.extend(self.parent.secret_values())
        return sorted(set(found), key=len, reverse=True)

    # ------------------------------------------------------------------ variables
    def _collect_variables(self) -> dict[str, tuple[str, Any, bool]]:
        raw = get_ci(self.template, "variables") or {}
        if not isinstance(raw, dict):
            raise TemplateError(INVALID_TEMPLATE, "The template 'variables' must be an object.", target="variables")
        out: dict[str, tuple[str, Any, bool]] = {}
        for name, value in raw.items():
            if name.lower() == "copy" and copyloops.is_property_copy(value):
                for spec in value:
                    loop = get_ci(spec, "name")
                    out[str(loop).lower()] = (str(loop), spec, True)
                continue
            out[name.lower()] = (name, value, False)
        return out

    def variable(self, name: str, ctx: EvalContext) -> Any:
        if self.outer and self.parent is not None:  # outer scope: the nested template's own variables are ignored
            return self.parent.variable(name, ctx)
        key = name.lower()
        if key in self._var_cache:
            return self._var_cache[key]
        if key not in self._variables:
            raise ExpressionError(f"The template variable '{name}' is not found. Please see "
                                  "https://aka.ms/arm-syntax-variables for usage details.")
        if key in self._var_busy:
            raise ExpressionError(f"The template variable '{name}' refers to itself (circular variable reference).")
        declared, raw, is_copy = self._variables[key]
        stats = PreviewStats() if ctx.preview else None
        vctx = EvalContext(self, allow_runtime=ctx.allow_runtime, preview=ctx.preview, stats=stats,
                           location=f"the variable '{declared}'")
        self._var_busy.add(key)
        try:
            if is_copy:
                value = copyloops.expand_copy_array(raw, vctx, walk, name=declared, default=True)
            else:
                value = walk(raw, vctx)
        except TemplateError as exc:
            raise located(exc, f"variables.{declared}") from None
        finally:
            self._var_busy.discard(key)
        if stats is not None:
            if ctx.stats is not None:
                ctx.stats.touched.extend(stats.touched)
            if stats.deferred:
                raise Deferred()
        self._var_cache[key] = value
        return value

    # ------------------------------------------------------------------ user-defined functions
    def _collect_functions(self) -> dict[tuple[str, str], dict]:
        out: dict[tuple[str, str], dict] = {}
        raw = get_ci(self.template, "functions") or []
        if not isinstance(raw, list):
            raise TemplateError(INVALID_TEMPLATE, "The template 'functions' must be an array.", target="functions")
        for group in raw:
            namespace = get_ci(group, "namespace") if isinstance(group, dict) else None
            members = get_ci(group, "members") if isinstance(group, dict) else None
            if not isinstance(namespace, str) or not isinstance(members, dict):
                raise TemplateError(INVALID_TEMPLATE, "Each user-defined function group needs a 'namespace' and "
                                    "'members'.", target="functions")
            for name, member in members.items():
                out[(namespace.lower(), name.lower())] = {"namespace": namespace, "name": name, **member}
        return out

    def call_user_function(self, namespace: str, name: str, args: list[Any], ctx: EvalContext) -> Any:
        member = self._udfs.get((namespace.lower(), name.lower()))
        if member is None:
            if self.outer and self.parent is not None:
                return self.parent.call_user_function(namespace, name, args, ctx)
            raise ExpressionError(f"The template function '{namespace}.{name}' is not valid: no such user-defined "
                                  "function is declared.")
        declared = member.get("parameters") or []
        if len(declared) != len(args):
            raise ExpressionError(f"The user-defined function '{namespace}.{name}' expects {len(declared)} "
                                  f"argument(s), but {len(args)} were given.")
        bound: dict[str, Any] = {}
        for spec, value in zip(declared, args, strict=True):
            pname = str(get_ci(spec, "name"))
            try:
                self.checker.check(value, spec)
            except SchemaError as exc:
                raise ExpressionError(f"The argument '{pname}' of '{namespace}.{name}' is not valid: "
                                      f"{exc.message}") from None
            bound[pname.lower()] = value
        output = member.get("output") or {}
        fctx = EvalContext(self, udf_params=bound, preview=ctx.preview, stats=ctx.stats,
                           location=f"the user-defined function '{namespace}.{name}'")
        value = walk(get_ci(output, "value"), fctx)
        try:
            self.checker.check(value, output)
        except SchemaError as exc:
            raise ExpressionError(f"The output of '{namespace}.{name}' is not valid: {exc.message}") from None
        return value

    # ------------------------------------------------------------------ scope objects
    def scope_object(self, kind: str) -> dict:
        if kind == "resourceGroup":
            return self.resource_group_object()
        if kind == "subscription":
            extra = getattr(self.host, "subscription", None)
            found = extra(self.subscription_id) if callable(extra) else None
            return found or {"id": sub_scope(self.subscription_id), "subscriptionId": self.subscription_id,
                             "tenantId": self.tenant_id, "displayName": "Emulated subscription"}
        if kind == "tenant":
            extra = getattr(self.host, "tenant", None)
            found = extra() if callable(extra) else None
            return found or {"countryCode": "US", "displayName": "Emulated tenant",
                             "id": f"/tenants/{self.tenant_id}", "tenantId": self.tenant_id}
        if kind == "deployment":
            return self.deployment_object()
        if kind == "environment":
            env = self.host.environment() if hasattr(self.host, "environment") else None
            return env or DEFAULT_ENVIRONMENT
        if kind == "deployer":
            extra = getattr(self.host, "deployer", None)
            found = extra() if callable(extra) else None
            return found or {"objectId": "00000000-0000-0000-0000-000000000000", "tenantId": self.tenant_id}
        if kind == "managementGroup":
            raise ExpressionError("The template function 'managementGroup' is not expected at this location: the "
                                  "deployment is not at management group scope.")
        raise ExpressionError(f"Unknown scope object '{kind}'.")

    def resource_group_object(self) -> dict:
        if self.resource_group_name is None:
            raise ExpressionError("The template function 'resourceGroup' is not expected at this location: the "
                                  "deployment is at subscription scope.")
        if self._rg_cache is None:
            group = self.host.resource_group(self.subscription_id, self.resource_group_name)
            if group is None:
                raise TemplateError(RESOURCE_GROUP_NOT_FOUND,
                                    f"Resource group '{self.resource_group_name}' could not be found.")
            body = {"id": rg_scope(self.subscription_id, group.get("name") or self.resource_group_name),
                    "name": group.get("name") or self.resource_group_name,
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": group.get("location"),
                    "tags": group.get("tags") or {},
                    "properties": group.get("properties") or {"provisioningState": "Succeeded"}}
            if group.get("id"):
                body["id"] = group["id"]
            if group.get("managedBy"):
                body["managedBy"] = group["managedBy"]
            self._rg_cache = body
        return self._rg_cache

    def deployment_object(self) -> dict:
        name = self.scope.deployment_name
        if self.is_v2:
            template: dict[str, Any] = {"contentVersion": get_ci(self.template, "contentVersion") or "1.0.0.0"}
            if has_key_ci(self.template, "metadata"):
                template["metadata"] = get_ci(self.template, "metadata")
            result: dict[str, Any] = {"name": name, "properties": {"template": template}}
        else:
            template = {k: v for k, v in self.template.items() if k.lower() != "metadata"}
            result = {"name": name, "properties": {
                "template": template,
                "templateHash": template_hash(self.template),
                "parameters": self.binder.echo() if not self.outer else {},
                "mode": self.mode,
                "provisioningState": "Accepted",
            }}
        if self.resource_group_name is None and self.location:
            result["location"] = self.location
        return result

    def new_guid(self) -> str:
        factory = self.options.new_guid
        return factory() if factory else str(uuid.uuid4())

    # ------------------------------------------------------------------ runtime lookups
    def outer_has(self, name: str) -> bool:
        parent = self.parent if self.outer else None
        while parent is not None:
            if parent.resources.match(name):
                return True
            parent = parent.parent if parent.outer else None
        return False

    def _target(self, target: str) -> tuple[Instance | None, TemplateRuntime, str]:
        """The template instance (if any) a reference()/list*() argument means, and the resource id."""
        runtime: TemplateRuntime | None = self
        while runtime is not None:
            inst = runtime.resources.single(target)
            if inst is not None:
                return inst, runtime, inst.resource_id
            runtime = runtime.parent if runtime.outer else None
        if target.startswith("/"):
            return None, self, target
        if "/" in target:
            parts = [p for p in target.split("/") if p]
            return None, self, build_id(self.scope_id, "/".join([parts[0], *parts[1:][0::2]]), parts[2::2])
        raise ExpressionError(f"The template reference '{target}' is not valid: could not find template resource or "
                              "resource copy with this name. Please see https://aka.ms/arm-function-reference for "
                              "usage details.")

    def _not_found(self, resource_id: str) -> TemplateError:
        parts = id_parts(resource_id)
        where = f"under resource group '{parts['resourceGroup']}'" if parts["resourceGroup"] else \
            f"under subscription '{parts['subscription']}'"
        return TemplateError(RESOURCE_NOT_FOUND, f"The Resource '{parts['type']}/{parts['name']}' {where} was not "
                             "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                             target=resource_id)

    def reference(self, target: str, api_version: str | None, full: bool, ctx: EvalContext) -> Any:
        inst, owner, resource_id = self._target(target)
        body: dict | None
        if inst is not None:
            if not inst.condition:
                raise TemplateError(INVALID_TEMPLATE, f"The resource '{inst.key}' is not deployed because its "
                                    "condition is false, so it can't be referenced. Guard the reference with if().")
            if inst.is_deployment:
                if inst.result is None:
                    raise TemplateError(INVALID_TEMPLATE, f"The nested deployment '{inst.key}' has not run yet.")
                body = inst.result
            else:
                body = self.host.get_resource(resource_id, api_version or inst.decl.api_version)
        else:
            body = self.host.get_resource(resource_id, api_version)
        if body is None:
            raise self._not_found(resource_id)
        if not full:
            return copy.deepcopy(body.get("properties", {}))
        body = copy.deepcopy(body)
        parts = id_parts(resource_id)
        version = api_version or (inst.decl.api_version if inst is not None else None)
        body.setdefault("id", resource_id)
        body.update({
            "subscriptionId": parts["subscription"],
            "resourceGroupName": parts["resourceGroup"],
            "resourceId": resource_id.split("/providers/", 1)[-1] if "/providers/" in resource_id else resource_id,
            "referenceApiVersion": version,
            "condition": True,
            "isConditionTrue": True,
            "isTemplateResource": inst is not None,
            "isAction": False,
            "provisioningOperation": "Read",
        })
        return body

    def references(self, symbol: str, full: bool, ctx: EvalContext) -> list[Any]:
        decl = self.resources.by_symbol.get(symbol)
        if decl is None:
            decl = next((d for s, d in self.resources.by_symbol.items() if s.lower() == symbol.lower()), None)
        if decl is None:
            raise ExpressionError(f"The template function 'references' expects the symbolic name of a resource "
                                  f"collection; '{symbol}' is not declared.")
        members = [i for i in self.resources.instances if i.decl is decl and i.condition]
        members.sort(key=lambda i: i.copy_index or 0)
        return [self.reference(i.key, None, full, ctx) for i in members]

    def list_action(self, action: str, target: str, api_version: str | None, body: Any, ctx: EvalContext) -> Any:
        inst, _, resource_id = self._target(target)
        if api_version is None and inst is not None:
            api_version = inst.decl.api_version
        if api_version is None:
            raise ExpressionError(f"The template function '{action}' needs an API version for '{target}'.")
        try:
            result = self.host.post_action(resource_id, action, body, api_version)
        except ResourceWriteError as exc:
            raise TemplateError(exc.code, exc.message, target=resource_id) from None
        if result is None:
            raise self._not_found(resource_id)
        return copy.deepcopy(result)

    # ------------------------------------------------------------------ bodies
    def nested_scope(self, inst: Instance) -> str:
        props = get_ci(inst.decl.raw, "properties") or {}
        options = get_ci(props, "expressionEvaluationOptions") or {}
        value = get_ci(options, "scope") if isinstance(options, dict) else None
        if isinstance(value, str) and value.lower() in ("inner", "outer"):
            return value.lower()
        return "inner" if self.is_v2 else "outer"

    def evaluate_body(self, inst: Instance, ctx: EvalContext) -> dict[str, Any]:
        """The body sent to the resource provider (nested deployments: everything but the template)."""
        out: dict[str, Any] = {}
        for key, value in inst.decl.raw.items():
            if key.lower() in TEMPLATE_ONLY_KEYS:
                continue
            if inst.is_deployment and key.lower() == "properties" and isinstance(value, dict):
                outer = self.nested_scope(inst) == "outer"
                value = {k: v for k, v in value.items()
                         if k.lower() != "template" and not (outer and k.lower() == "parameters")}
            try:
                out[key] = walk(value, ctx)
            except TemplateError as exc:
                raise located(exc, f"{inst.decl.path}.{key}") from None
        return out


__all__ = ["TemplateRuntime", "TYPE_NAMES", "template_hash", "DEFAULT_ENVIRONMENT"]
