"""HTTP routes of the ARM control plane: one catch-all per root, dispatched by path shape.

ARM paths are case-insensitive, which Flask's router is not, so `/subscriptions/...` is parsed
here: front-door paths (subscriptions, providers, groups, operation status) first, then any
`/providers/{Namespace}/{type}/...` path is matched against the registered resource types.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request

from provider.arm import frontdoor, groups, handlers, paging
from provider.arm.api_versions import check_api_version
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError, group_not_found, invalid_content, invalid_parameter, path_not_found
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
        raise invalid_content(f"The request content was invalid and could not be deserialized: {exc}.") from exc
    except UnicodeDecodeError as exc:
        raise invalid_content(f"The request content was invalid and could not be deserialized: {exc}.") from exc


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
        raise invalid_parameter(f"The value '{value}' of $top is not a valid integer.",
                                target="$top") from None
    if top < 1:
        raise invalid_parameter("$top must be a positive integer.", target="$top")
    return top


def skiptoken_arg() -> str | None:
    return request.args.get("$skiptoken") or request.args.get("$skipToken")


def method_not_allowed(allowed: str) -> ArmError:
    return ArmError(405, "MethodNotAllowed",
                    f"The requested resource does not support http method '{request.method}'.",
                    headers={"Allow": allowed})


# ---- front door: the table of contents --------------------------------------------------------------
# Every fixed ARM path the emulator answers, one line each (grep a URL here). Segments match
# case-insensitively; `{name}` captures one segment and `*` the rest of the path. A path that none
# matches but that has a `/providers/` segment is a resource path (`_provider_paths`).
@dataclass(frozen=True)
class Route:
    pattern: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]  # (ctx, **captures) -> ArmResponse | Response

    def match(self, parts: list[str]) -> dict[str, Any] | None:
        wanted = self.pattern.split("/")
        if wanted[-1] == "*":
            if len(parts) < len(wanted) - 1:
                return None
        elif len(parts) != len(wanted):
            return None
        captures: dict[str, Any] = {}
        for want, got in zip(wanted, parts, strict=False):
            if want == "*":
                break
            if want.startswith("{"):
                captures[want[1:-1]] = got
            elif want != got.lower():
                return None
        if wanted[-1] == "*":
            captures["rest"] = parts[len(wanted) - 1:]
        return captures


def _groups_versioned(ctx: RequestContext) -> None:
    check_api_version(ctx.api_version, groups.RESOURCES_API_VERSIONS, ctx.emu.config.skip_api_version_check,
                      "resource groups")


def _group(ctx: RequestContext, subscription: str, group: str) -> Any:
    _groups_versioned(ctx)
    emu, method = ctx.emu, request.method
    if method == "PUT":
        body = request_body()
        if not isinstance(body, dict):
            raise invalid_content("The request content must be a JSON object.")
        status, doc = groups.put(ctx, subscription, group, body)
        return handlers.ArmResponse(status, doc)
    if method == "PATCH":
        return handlers.ArmResponse(200, groups.patch(ctx, subscription, group, request_body() or {}))
    if method == "DELETE":
        return frontdoor.delete_group(ctx, subscription, group)
    doc = groups.get(emu, subscription, group)
    if method == "HEAD":
        return Response(status=204 if doc else 404)
    if doc is None:
        raise group_not_found(group)
    return handlers.ArmResponse(200, doc)


def _list_groups(ctx: RequestContext, subscription: str) -> Any:
    _groups_versioned(ctx)
    return frontdoor.list_groups(ctx, subscription, top_arg(), skiptoken_arg())


def _group_resources(ctx: RequestContext, subscription: str, group: str) -> Any:
    _groups_versioned(ctx)
    return frontdoor.list_resources(ctx, subscription, group)


def _export_group(ctx: RequestContext, subscription: str, group: str) -> Any:
    raise ArmError(400, "NotSupported", "Exporting a resource group's template is not emulated.")


def _operation(ctx: RequestContext, subscription: str, namespace: str, location: str, kind: str,
               operation: str) -> Any:
    if kind.lower() == "operationresults":
        return handlers.operation_result(ctx, operation)
    return handlers.operation_status(ctx, operation)


def _as_resources_provider(prefix: list[str]) -> Callable[..., Any]:
    """Deployments are also served without `/providers/Microsoft.Resources` (`.../deployments/{n}/operations`)."""
    def handler(ctx: RequestContext, rest: list[str], **captures: str) -> Any:
        head = [part.format(**captures) for part in prefix]
        return _provider_paths(ctx, "/" + "/".join([*head, "providers", "Microsoft.Resources", "deployments", *rest]))

    return handler


_GET, _POST = ("GET",), ("POST",)
FRONT_DOOR: tuple[Route, ...] = (
    Route("subscriptions", _GET, lambda ctx: frontdoor.list_subscriptions(ctx.emu)),
    Route("subscriptions/{subscription}", _GET, lambda ctx, subscription: frontdoor.get_subscription(ctx.emu,
                                                                                                    subscription)),
    Route("subscriptions/{subscription}/resources", _GET,
          lambda ctx, subscription: frontdoor.list_resources(ctx, subscription, None)),
    Route("subscriptions/{subscription}/locations", _GET,
          lambda ctx, subscription: frontdoor.list_locations(ctx.emu, subscription)),
    Route("subscriptions/{subscription}/providers", _GET,
          lambda ctx, subscription: frontdoor.list_providers(ctx.emu, subscription)),
    Route("subscriptions/{subscription}/providers/{namespace}", _GET,
          lambda ctx, subscription, namespace: frontdoor.provider(ctx.emu, subscription, namespace)),
    Route("subscriptions/{subscription}/providers/{namespace}/register", _POST,
          lambda ctx, subscription, namespace: frontdoor.register_provider(ctx.emu, subscription, namespace,
                                                                           "register")),
    Route("subscriptions/{subscription}/providers/{namespace}/unregister", _POST,
          lambda ctx, subscription, namespace: frontdoor.register_provider(ctx.emu, subscription, namespace,
                                                                           "unregister")),
    *(Route(f"subscriptions/{{subscription}}/providers/{{namespace}}/locations/{{location}}/{kind}/{{operation}}",
            _GET, lambda ctx, kind=kind, **c: _operation(ctx, kind=kind, **c))
      for kind in ("operationstatuses", "asyncoperationstatuses", "operationresults")),
    Route("subscriptions/{subscription}/deployments/*", ("GET", "PUT", "DELETE", "POST", "HEAD"),
          _as_resources_provider(["subscriptions", "{subscription}"])),
    Route("subscriptions/{subscription}/resourcegroups", _GET, _list_groups),
    Route("subscriptions/{subscription}/resourcegroups/{group}", ("GET", "HEAD", "PUT", "PATCH", "DELETE"), _group),
    Route("subscriptions/{subscription}/resourcegroups/{group}/resources", _GET, _group_resources),
    Route("subscriptions/{subscription}/resourcegroups/{group}/exporttemplate", _POST, _export_group),
    Route("subscriptions/{subscription}/resourcegroups/{group}/deployments/*", ("GET", "PUT", "DELETE", "POST", "HEAD"),
          _as_resources_provider(["subscriptions", "{subscription}", "resourceGroups", "{group}"])),
    Route("providers", _GET, lambda ctx: frontdoor.list_providers(ctx.emu, None)),
    Route("providers/{namespace}", _GET, lambda ctx, namespace: frontdoor.provider(ctx.emu, None, namespace)),
    Route("providers/{namespace}/operations", _GET,
          lambda ctx, namespace: frontdoor.provider_operations(ctx.emu, namespace)),
    Route("providers/microsoft.resources/*", ("GET", "POST"),
          lambda ctx, rest: frontdoor.tenant_resources_call(ctx, ["Microsoft.Resources", *rest], request_body())),
)


def dispatch(path_parts: list[str]) -> Response:
    """Route an ARM path: the first row of `FRONT_DOOR` that matches, else a resource path."""
    ctx = context(None, api_version())
    for route in FRONT_DOOR:
        captures = route.match(path_parts)
        if captures is None:
            continue
        if request.method not in route.methods:
            raise method_not_allowed(", ".join(route.methods))
        result = route.handler(ctx, **captures)
        return result if isinstance(result, Response) else make_response(result)
    if path_parts[0].lower() == "subscriptions" and "providers" in (p.lower() for p in path_parts[2:]):
        return _provider_paths(ctx, "/" + "/".join(path_parts))
    raise path_not_found(f"The path '{request.path}' is not served by this emulator.")


ALL_METHODS = ["GET", "PUT", "PATCH", "DELETE", "POST", "HEAD"]


@bp.route("/subscriptions", methods=ALL_METHODS)
@bp.route("/subscriptions/<path:rest>", methods=ALL_METHODS)
@bp.route("/providers", methods=ALL_METHODS)
@bp.route("/providers/<path:rest>", methods=ALL_METHODS)
def arm_paths(rest: str = "") -> Response:
    root = request.path.strip("/").split("/", 1)[0]
    return dispatch([root, *(p for p in rest.split("/") if p)])


def _provider_paths(ctx: RequestContext, path: str) -> Response:
    """`{scope}/providers/{Namespace}/{type}/{name}/...`: a resource, a collection or an action."""
    parts = [p for p in path.split("/") if p]
    lowered = [p.lower() for p in parts]
    at = len(lowered) - 1 - lowered[::-1].index("providers")
    scope = "/" + "/".join(parts[:at])
    rest = parts[at + 1:]
    emu = ctx.emu
    if not rest:
        raise path_not_found(f"The path '{request.path}' is not served by this emulator.")
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
            raise path_not_found(f"'{rtype.full_type}' cannot be listed at subscription scope.")
        ctx.rid = parent
        ctx.list_filter = request.args.get("$filter")
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
