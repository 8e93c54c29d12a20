"""HTTP routes of the ARM control plane: one catch-all per root, dispatched by path shape.

ARM paths are case-insensitive, which Flask's router is not, so `/subscriptions/...` is parsed
here: front-door paths (subscriptions, providers, groups, operation status) first, then any
`/providers/{Namespace}/{type}/...` path is matched against the registered resource types.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request

from provider.arm import frontdoor, groups, handlers, paging
from provider.arm.api_versions import check_api_version
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError, group_not_found
from provider.arm.ids import ResourceId, parse_scope
from provider.arm.resource_type import generic_type_for

if TYPE_CHECKING:
    from provider.state import Emulator

bp = Blueprint("arm", __name__)

JSON_TYPES = ("application/json", "text/json")


def emulator() -> Emulator:
    return current_app.config["EMULATOR"]


def make_response(result: handlers.ArmResponse) -> Response:
    if result.body is None or (result.status == 204):
        resp = Response(status=result.status)
        resp.headers.pop("Content-Type", None)
    else:
        resp = Response(json.dumps(result.body), status=result.status, mimetype="application/json")
    for name, value in result.headers.items():
        if value:
            resp.headers[name] = value
    return resp


def request_body() -> Any:
    """The JSON body, with ARM's 415 / 400 answers for the wrong media type or malformed JSON."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    content_type = (request.mimetype or "").lower()
    if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise ArmError(415, "UnsupportedMediaType",
                       f"The content media type '{content_type}' is not supported. Only 'application/json' is "
                       "supported.")
    try:
        text = raw.decode("utf-8-sig")
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lenient = _lenient_json(text)
        if lenient is not None:
            return lenient
        raise ArmError(400, "InvalidRequestContent",
                       f"The request content was invalid and could not be deserialized: {exc}.") from exc
    except UnicodeDecodeError as exc:
        raise ArmError(400, "InvalidRequestContent",
                       f"The request content was invalid and could not be deserialized: {exc}.") from exc


def _lenient_json(text: str) -> Any:
    """az CLI splices the raw template file (comments, trailing commas, sometimes an unquoted
    `template` key) into deployment bodies; ARM accepts that, so deployment calls do too."""
    if "/providers/microsoft.resources/deployments/" not in request.path.lower():
        return None
    try:
        import json5

        return json5.loads(text)
    except Exception:  # json5 raises several ValueError subclasses
        return None


def api_version(required: bool = True) -> str:
    version = request.args.get("api-version") or request.args.get("Api-Version") or ""
    if required and not version:
        raise ArmError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.")
    return version


def context(rid: ResourceId | None, version: str) -> RequestContext:
    caller, caller_type = frontdoor.caller_of(request.headers.get("Authorization"))
    return RequestContext(emulator(), rid, version, request.host_url.rstrip("/"), caller=caller,
                          caller_type=caller_type)


def top_arg() -> int | None:
    value = request.args.get("$top") or request.args.get("%24top")
    if value is None:
        return None
    try:
        top = int(value)
    except ValueError:
        raise ArmError(400, "InvalidParameter", f"The value '{value}' of $top is not a valid integer.",
                       target="$top") from None
    if top < 1:
        raise ArmError(400, "InvalidParameter", "$top must be a positive integer.", target="$top")
    return top


def skiptoken_arg() -> str | None:
    return request.args.get("$skiptoken") or request.args.get("$skipToken")


def method_not_allowed(allowed: str) -> ArmError:
    return ArmError(405, "MethodNotAllowed",
                    f"The requested resource does not support http method '{request.method}'.",
                    headers={"Allow": allowed})


# ---- front door ----------------------------------------------------------------------------------
@bp.route("/subscriptions", methods=["GET"])
def list_subscriptions() -> Response:
    api_version()
    return make_response(frontdoor.list_subscriptions(emulator()))


@bp.route("/providers", methods=["GET"])
def list_providers_tenant() -> Response:
    api_version()
    return make_response(frontdoor.list_providers(emulator(), None))


@bp.route("/providers/<path:rest>", methods=["GET", "POST"])
def tenant_providers(rest: str) -> Response:
    parts = [p for p in rest.split("/") if p]
    version = api_version()
    if len(parts) == 2 and parts[1].lower() == "operations" and request.method == "GET":
        return make_response(frontdoor.provider_operations(emulator(), parts[0]))
    if len(parts) == 1 and request.method == "GET":
        return make_response(frontdoor.provider(emulator(), None, parts[0]))
    if parts and parts[0].lower() == "microsoft.resources" and len(parts) >= 2:
        return make_response(frontdoor.tenant_resources_call(context(None, version), parts, request_body()))
    raise ArmError(404, "NotFound", f"The path '{request.path}' is not served by this emulator.")


@bp.route("/subscriptions/<path:rest>", methods=["GET", "PUT", "PATCH", "DELETE", "POST", "HEAD"])
def subscription_paths(rest: str) -> Response:
    parts = [p for p in rest.split("/") if p]
    subscription = parts[0]
    lowered = [p.lower() for p in parts]
    emu = emulator()
    version = api_version()
    ctx = context(None, version)

    if len(parts) == 1:
        if request.method != "GET":
            raise method_not_allowed("GET")
        return make_response(frontdoor.get_subscription(emu, subscription))
    if lowered[1] == "resources" and len(parts) == 2:
        return make_response(frontdoor.list_resources(ctx, subscription, None))
    if lowered[1] == "locations" and len(parts) == 2:
        return make_response(frontdoor.list_locations(emu, subscription))
    if lowered[1] == "resourcegroups":
        if len(parts) >= 5 and lowered[3] == "deployments":  # .../resourcegroups/{rg}/deployments/{name}/operations
            return _provider_paths(ctx, "/" + "/".join(["subscriptions", *parts[:3], "providers",
                                                        "Microsoft.Resources", *parts[3:]]))
        return _group_paths(ctx, subscription, parts)
    if lowered[1] == "deployments" and len(parts) >= 3:  # /subscriptions/{s}/deployments/{name}/operations
        return _provider_paths(ctx, "/" + "/".join(["subscriptions", parts[0], "providers", "Microsoft.Resources",
                                                    *parts[1:]]))
    if lowered[1] == "providers":
        if len(parts) == 2:
            return make_response(frontdoor.list_providers(emu, subscription))
        if len(parts) == 3:
            if request.method not in ("GET",):
                raise method_not_allowed("GET")
            return make_response(frontdoor.provider(emu, subscription, parts[2]))
        if len(parts) == 4 and lowered[3] in ("register", "unregister"):
            if request.method != "POST":
                raise method_not_allowed("POST")
            return make_response(frontdoor.register_provider(emu, subscription, parts[2], lowered[3]))
        if len(parts) == 7 and lowered[3] == "locations" and lowered[5] in ("operationstatuses",
                                                                            "asyncoperationstatuses",
                                                                            "operationresults"):
            if request.method != "GET":
                raise method_not_allowed("GET")
            if lowered[5] == "operationresults":
                return make_response(handlers.operation_result(ctx, parts[6]))
            return make_response(handlers.operation_status(ctx, parts[6]))
    if "providers" in lowered:
        return _provider_paths(ctx, "/" + "/".join(["subscriptions", *parts]))
    raise ArmError(404, "NotFound", f"The path '{request.path}' is not served by this emulator.")


def _group_paths(ctx: RequestContext, subscription: str, parts: list[str]) -> Response:
    emu = ctx.emu
    method = request.method
    lowered_parts = [p.lower() for p in parts]
    if "providers" not in lowered_parts:
        check_api_version(ctx.api_version, groups.RESOURCES_API_VERSIONS, emu.config.skip_api_version_check,
                          "resource groups")
    if len(parts) == 2:
        if method != "GET":
            raise method_not_allowed("GET")
        return make_response(frontdoor.list_groups(ctx, subscription, top_arg(), skiptoken_arg()))
    name = parts[2]
    if len(parts) == 3:
        if method == "PUT":
            body = request_body()
            if not isinstance(body, dict):
                raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
            status, doc = groups.put(ctx, subscription, name, body)
            return make_response(handlers.ArmResponse(status, doc))
        if method in ("GET", "HEAD"):
            doc = groups.get(emu, subscription, name)
            if method == "HEAD":
                return Response(status=204 if doc else 404)
            if doc is None:
                raise group_not_found(name)
            return make_response(handlers.ArmResponse(200, doc))
        if method == "PATCH":
            body = request_body() or {}
            return make_response(handlers.ArmResponse(200, groups.patch(ctx, subscription, name, body)))
        if method == "DELETE":
            return make_response(frontdoor.delete_group(ctx, subscription, name))
        raise method_not_allowed("GET, HEAD, PUT, PATCH, DELETE")
    lowered = [p.lower() for p in parts]
    if len(parts) == 4 and lowered[3] == "resources":
        if method != "GET":
            raise method_not_allowed("GET")
        return make_response(frontdoor.list_resources(ctx, subscription, name))
    if len(parts) == 4 and lowered[3] == "exporttemplate":
        raise ArmError(400, "NotSupported", "Exporting a resource group's template is not emulated.")
    if "providers" in lowered:
        return _provider_paths(ctx, "/" + "/".join(["subscriptions", *parts]))
    raise ArmError(404, "NotFound", f"The path '{request.path}' is not served by this emulator.")


def _provider_paths(ctx: RequestContext, path: str) -> Response:
    """`{scope}/providers/{Namespace}/{type}/{name}/...`: a resource, a collection or an action."""
    parts = [p for p in path.split("/") if p]
    lowered = [p.lower() for p in parts]
    at = len(lowered) - 1 - lowered[::-1].index("providers")
    scope = "/" + "/".join(parts[:at])
    rest = parts[at + 1:]
    emu = ctx.emu
    if not rest:
        raise ArmError(404, "NotFound", f"The path '{request.path}' is not served by this emulator.")
    namespace = rest[0]
    if len(rest) == 2 and rest[1].lower().startswith("check") and rest[1].lower().endswith("nameavailability"):
        if request.method != "POST":
            raise method_not_allowed("POST")
        return make_response(frontdoor.check_name_availability(ctx, namespace, rest[1], request_body()))
    subscription, group = parse_scope(scope)
    segments = rest[1:]
    # longest prefix of (type, name) pairs that is a registered type
    types: list[str] = []
    names: list[str] = []
    i = 0
    while i < len(segments):
        candidate = "/".join([namespace, *types, segments[i]])
        if not emu.registry.has_prefix(candidate) and types and emu.registry.find("/".join([namespace, *types])):
            break  # the rest is an action on the resource named so far
        types.append(segments[i])
        if i + 1 < len(segments):
            names.append(segments[i + 1])
        i += 2
    action_path = "/".join(segments[i:]) if i < len(segments) else ""
    full_type = "/".join([namespace, *types])
    rtype = emu.registry.find(full_type) or generic_type_for(ctx, full_type)
    if len(names) < len(types):
        # a collection: the parent is the resource named by the pairs so far
        parent = ResourceId(subscription, group, namespace, tuple(types[:-1]), tuple(names), scope) if names else None
        if request.method != "GET":
            raise method_not_allowed("GET")
        if parent is None and (group is None and not rtype.list_at_subscription and not rtype.extension):
            raise ArmError(404, "NotFound", f"'{rtype.full_type}' cannot be listed at subscription scope.")
        ctx.rid = parent
        ctx.extra["filter"] = request.args.get("$filter")
        collection_url = path
        return make_response(paging.list_resources(ctx, rtype, parent, scope, collection_url, top_arg(),
                                                     skiptoken_arg()))
    rid = ResourceId(subscription, group, namespace, tuple(types), tuple(names), scope)
    ctx.rid = rid
    if action_path:
        if request.method != "POST":
            raise method_not_allowed("POST")
        return make_response(handlers.post_action(ctx, rtype, action_path, request_body()))
    method = request.method
    if method == "PUT":
        return make_response(handlers.put_resource(ctx, rtype, request_body(), request.headers.get("If-Match"),
                                                   request.headers.get("If-None-Match")))
    if method == "PATCH":
        return make_response(handlers.patch_resource(ctx, rtype, request_body(), request.headers.get("If-Match")))
    if method == "GET":
        return make_response(handlers.get_resource(ctx, rtype))
    if method == "HEAD":
        try:
            handlers.get_resource(ctx, rtype)
            return Response(status=204)
        except ArmError as exc:
            return Response(status=exc.status)
    if method == "DELETE":
        return make_response(handlers.delete_resource(ctx, rtype, request.headers.get("If-Match")))
    raise method_not_allowed("GET, PUT, PATCH, DELETE")
