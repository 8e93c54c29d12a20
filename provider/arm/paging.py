"""Collection listings: stable creation order, `$top`, and an opaque `$skiptoken` in `nextLink`.

A page ends where the next one starts (creation sequence numbers), so a resource created or
deleted between two pages never appears twice or shifts the others.
"""

from __future__ import annotations

import base64
from typing import Any

from provider.arm import groups
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError, group_not_found, parent_not_found
from provider.arm.handlers import ArmResponse, check_api_version, check_scope, render
from provider.arm.ids import ResourceId, parse_scope
from provider.arm.resource_type import ResourceType

DEFAULT_PAGE_SIZE = 100


def list_resources(ctx: RequestContext, rtype: ResourceType, parent: ResourceId | None, scope: str,
                   collection_url: str, top: int | None, skiptoken: str | None) -> ArmResponse:
    """List a collection with `nextLink` paging: opaque `$skiptoken`, stable creation order."""
    check_api_version(ctx, rtype)
    emu = ctx.emu
    emu.operations.settle_due()
    limit = max(1, min(top or DEFAULT_PAGE_SIZE, 1000))
    after = decode_skiptoken(skiptoken)
    group: str | None = parent.resource_group if parent is not None else None
    # a type that filters its listings is read whole, then paged, so no page ends early
    filtered = type(rtype).list_filter is not ResourceType.list_filter
    fetch = None if filtered else limit + 1
    if ctx.list_scope is None:
        ctx.list_scope = scope
    if parent is not None:
        check_scope(ctx, parent)
        owner: ResourceId | None = parent
        while owner is not None and emu.registry.find(owner.full_type) is None:
            owner = owner.parent  # `IotHubs/h/eventHubEndpoints/events` is a path, not a resource
        if owner is not None and not emu.repo.exists(owner.key):
            raise parent_not_found(owner.full_type, "/".join(owner.names))
        rows = emu.repo.children(parent.key, rtype.key, after, fetch)
    elif rtype.extension and (builtin := rtype.builtin_documents(ctx, scope)) is not None:
        sub, group = parse_scope(scope)
        check_scope(ctx, ResourceId(sub, group, rtype.namespace, rtype.type_path, ("x",), scope))
        rows = list(enumerate(builtin, start=1))[after:]
    elif rtype.extension:
        sub, group = parse_scope(scope)
        check_scope(ctx, ResourceId(sub, group, rtype.namespace, rtype.type_path, ("x",), scope))
        rows = (emu.repo.in_subscription(sub, rtype.key, after) if filtered
                else emu.repo.children(scope.lower(), rtype.key, after, fetch))
    else:
        sub, group = parse_scope(scope)
        if group:
            if not groups.exists(emu, sub, group):
                raise group_not_found(group)
            rows = emu.repo.in_group(sub, group, rtype.key, after, fetch)
        else:
            rows = emu.repo.in_subscription(sub, rtype.key, after, fetch)
    if filtered:
        rows = [(seq, doc) for seq, doc in rows if rtype.list_filter(ctx, doc, group)][:limit + 1]
    return page_response(ctx, rows, limit, collection_url, top, lambda d: render(ctx, rtype, d))


def page_response(ctx: RequestContext, rows: list[tuple[int, dict]], limit: int, collection_url: str,
                  top: int | None, to_body: Any) -> ArmResponse:
    page = rows[:limit]
    body: dict[str, Any] = {"value": [to_body(doc) for _, doc in page]}
    if len(rows) > limit:
        token = encode_skiptoken(page[-1][0])
        link = f"{ctx.base_url}{collection_url}?api-version={ctx.api_version}&$skiptoken={token}"
        if top:
            link += f"&$top={top}"
        body["nextLink"] = link
    return ArmResponse(200, body)


def encode_skiptoken(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith("seq:"):
            return int(text[4:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise ArmError(400, "InvalidSkipToken", "The $skiptoken is not valid; use the nextLink the service returned.")
