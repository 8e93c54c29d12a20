"""Resource id construction and parsing (research §3.4).

Ids interleave type segments and name segments below a scope:
`{scope}/providers/{namespace}/{type1}/{name1}/{type2}/{name2}`; resource groups and
subscriptions have their own shapes. Comparisons elsewhere are case-insensitive, so ids are
built in the casing the template used.
"""

from __future__ import annotations

from provider.templates.errors import ExpressionError


def split_type(full_type: str) -> tuple[str, list[str]]:
    """`Microsoft.Devices/IotHubs/certificates` -> ("Microsoft.Devices", ["IotHubs", "certificates"])."""
    parts = [p for p in full_type.strip().strip("/").split("/") if p]
    if len(parts) < 2:
        raise ExpressionError(f"The resource type '{full_type}' is not valid: it needs a namespace and a type.")
    return parts[0], parts[1:]


def name_segments(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        out.extend(name.split("/"))
    return out


def rg_scope(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def sub_scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


def build_id(scope: str, full_type: str, names: list[str]) -> str:
    """Interleave type and name segments under `scope` ('' for tenant level)."""
    namespace, types = split_type(full_type)
    segments = name_segments(names)
    if len(segments) != len(types):
        raise ExpressionError(
            f"Unable to evaluate template language function 'resourceId': function requires exactly one "
            f"name segment per resource type segment; the type '{full_type}' has {len(types)} type segment(s) but "
            f"{len(segments)} name segment(s) were given (incorrect segment lengths)."
        )
    if namespace.lower() == "microsoft.resources" and len(types) == 1 and types[0].lower() == "resourcegroups" \
            and scope.lower().startswith("/subscriptions/") and "/resourcegroups/" not in scope.lower():
        return f"{scope}/resourceGroups/{segments[0]}"
    if namespace.lower() == "microsoft.resources" and types[0].lower() == "subscriptions" and len(types) == 1:
        return f"/subscriptions/{segments[0]}"
    path = "/".join(f"{t}/{n}" for t, n in zip(types, segments, strict=True))
    return f"{scope.rstrip('/')}/providers/{namespace}/{path}"


def parent_ids(resource_id: str) -> list[str]:
    """Ids of every ancestor of a resource id (nearest first), including extension targets."""
    parts = resource_id.strip("/").split("/")
    out = []
    # Walk back two segments at a time; a trailing "providers/<ns>" pair marks an extension scope.
    i = len(parts)
    while i > 2:
        i -= 2
        candidate = parts[:i]
        if len(candidate) >= 2 and candidate[-2].lower() == "providers":
            candidate = candidate[:-2]
            i -= 2
            if not candidate:
                break
        out.append("/" + "/".join(candidate))
    return out


def id_parts(resource_id: str) -> dict[str, str | None]:
    """subscription, resourceGroup, full type and full name of a resource id (best effort)."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    sub = parts[1] if len(parts) > 1 and lowered[0] == "subscriptions" else None
    rg = parts[3] if len(parts) > 3 and lowered[2] == "resourcegroups" else None
    if "providers" in lowered:
        start = len(lowered) - 1 - lowered[::-1].index("providers")
        namespace = parts[start + 1] if start + 1 < len(parts) else ""
        rest = parts[start + 2 :]
        types = rest[0::2]
        names = rest[1::2]
        return {"subscription": sub, "resourceGroup": rg, "type": "/".join([namespace, *types]),
                "name": "/".join(names)}
    if rg is not None and len(parts) == 4:
        return {"subscription": sub, "resourceGroup": rg, "type": "Microsoft.Resources/resourceGroups", "name": rg}
    return {"subscription": sub, "resourceGroup": rg, "type": "Microsoft.Resources/subscriptions", "name": sub}
