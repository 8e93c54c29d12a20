"""Azure's MQTT conventions: CONNECT user names, topic ACLs and `?$rid=...` property bags.

Everything here is pure string handling so that it can be unit-tested without a socket, and so
that the ACL (which topics a device may use) is visible in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, unquote

# `{idScope}/registrations/{registrationId}/api-version=...&ClientVersion=...` (no `?`, see probe §1)
_DPS_USER = re.compile(r"^(?P<scope>[^/]+)/registrations/(?P<reg>[^/]+)/(?P<query>api-version=.*)$")
# `{hubHostName}/{deviceId}/?api-version=...` or `{host}/{device}/{module}/?api-version=...`
_HUB_USER = re.compile(r"^(?P<host>[^/]+)/(?P<device>[^/]+)(?:/(?P<module>[^/?]+))?/\?(?P<query>.*)$")


@dataclass(frozen=True)
class DpsUser:
    id_scope: str
    registration_id: str
    api_version: str


@dataclass(frozen=True)
class HubUser:
    host: str
    device_id: str
    module_id: str | None
    api_version: str


def parse_username(username: str | None) -> DpsUser | HubUser | None:
    """Which service a CONNECT is for, from the user name's shape (both share one address)."""
    if not username:
        return None
    m = _DPS_USER.match(username)
    if m:
        query = parse_qs(m.group("query"))
        return DpsUser(m.group("scope"), unquote(m.group("reg")), (query.get("api-version") or [""])[0])
    m = _HUB_USER.match(username)
    if m:
        query = parse_qs(m.group("query"))
        module = unquote(m.group("module")) if m.group("module") else None
        return HubUser(m.group("host").lower(), unquote(m.group("device")), module,
                       (query.get("api-version") or [""])[0])
    return None


def property_bag(text: str) -> dict[str, str]:
    """`$rid=1&operationId=x` -> dict; values are URL-decoded, a key without `=` maps to ''."""
    return dict(parse_qsl(text, keep_blank_values=True))


def split_topic(topic: str) -> tuple[str, dict[str, str]]:
    """`$iothub/twin/GET/?$rid=5` -> (`$iothub/twin/GET/`, {"$rid": "5"})."""
    base, _, query = topic.partition("?")
    return base, property_bag(query)


def filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 §4.7 wildcard matching (`+` one level, `#` the rest)."""
    f_parts = topic_filter.split("/")
    t_parts = topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts):
            return False
        if part != "+" and part != t_parts[i]:
            return False
    return len(f_parts) == len(t_parts)


def valid_filter(topic_filter: str) -> bool:
    if not topic_filter or "\x00" in topic_filter or len(topic_filter) > 1024:
        return False
    parts = topic_filter.split("/")
    for i, part in enumerate(parts):
        if "#" in part and (part != "#" or i != len(parts) - 1):
            return False
        if "+" in part and part != "+":
            return False
    return True


# ---- DPS ------------------------------------------------------------------------------------------
DPS_RESPONSE_FILTER = "$dps/registrations/res/#"
DPS_REGISTER = "$dps/registrations/PUT/iotdps-register/"
DPS_STATUS = "$dps/registrations/GET/iotdps-get-operationstatus/"


def dps_may_subscribe(topic_filter: str) -> bool:
    return topic_filter == DPS_RESPONSE_FILTER  # "only this filter is supported" (dps-api.md §2)


# ---- IoT Hub device ----------------------------------------------------------------------------------
TWIN_RESPONSE_FILTER = "$iothub/twin/res/#"
TWIN_DESIRED_FILTER = "$iothub/twin/PATCH/properties/desired/#"
METHODS_FILTER = "$iothub/methods/POST/#"
CREDENTIALS_RESPONSE_FILTER = "$iothub/credentials/res/#"
TWIN_GET = "$iothub/twin/GET/"
TWIN_PATCH_REPORTED = "$iothub/twin/PATCH/properties/reported/"
METHOD_RESPONSE_PREFIX = "$iothub/methods/res/"
ISSUE_CERTIFICATE = "$iothub/credentials/POST/issueCertificate/"
# the certificate-renewal topics exist from this hub api-version on (dps-api.md §6)
RENEWAL_API_VERSION = "2025-08-01-preview"


def renewal_allowed(api_version: str) -> bool:
    return api_version[:10] >= RENEWAL_API_VERSION[:10]


def device_filters(device_id: str, api_version: str) -> set[str]:
    """The subscriptions IoT Hub lets a device make (wildcard forms as the SDKs send them)."""
    filters = {f"devices/{device_id}/messages/devicebound/#", TWIN_RESPONSE_FILTER, TWIN_DESIRED_FILTER,
               METHODS_FILTER}
    if renewal_allowed(api_version):
        filters.add(CREDENTIALS_RESPONSE_FILTER)
    return filters


def hub_may_subscribe(device_id: str, api_version: str, topic_filter: str) -> bool:
    if topic_filter in device_filters(device_id, api_version):
        return True
    # a device may also name its own cloud-to-device topic without the wildcard
    return topic_filter.startswith(f"devices/{device_id}/messages/devicebound/") and "+" not in topic_filter \
        and "#" not in topic_filter[:-1]


def telemetry_properties(device_id: str, topic: str) -> dict[str, str] | None:
    """The property bag of a telemetry topic of *this* device, or None if the topic is not one."""
    prefix = f"devices/{device_id}/messages/events"
    if topic == prefix:
        return {}
    if not topic.startswith(prefix + "/"):
        return None
    return property_bag(topic[len(prefix) + 1:])


def hub_publish_kind(device_id: str, api_version: str, topic: str) -> str | None:
    """Classify a device publish: telemetry, twin-get, twin-reported, method-response, issue-cert."""
    if telemetry_properties(device_id, topic) is not None:
        return "telemetry"
    base, _ = split_topic(topic)
    if base == TWIN_GET:
        return "twin-get"
    if base == TWIN_PATCH_REPORTED:
        return "twin-reported"
    if base.startswith(METHOD_RESPONSE_PREFIX) and re.fullmatch(r"\d{3}/", base[len(METHOD_RESPONSE_PREFIX):]):
        return "method-response"
    if base == ISSUE_CERTIFICATE and renewal_allowed(api_version):
        return "issue-certificate"
    return None
