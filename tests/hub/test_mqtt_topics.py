"""The MQTT topic and user-name rules as pure functions (no server)."""

from __future__ import annotations

from tests.support.mqtt_devices import HUB_MQTT_API


def test_user_names_topics_and_acl():
    from provider.mqtt import topics

    dps = topics.parse_username("0ne00AB/registrations/dev%2D1/api-version=2019-03-31&ClientVersion=x%2F1")
    assert dps == topics.DpsUser("0ne00AB", "dev-1", "2019-03-31")
    hub = topics.parse_username("Hub.azure-devices.localhost/dev1/?api-version=2021-04-12&DeviceClientType=x")
    assert hub == topics.HubUser("hub.azure-devices.localhost", "dev1", None, "2021-04-12")
    module = topics.parse_username("h/dev1/mod1/?api-version=2021-04-12")
    assert isinstance(module, topics.HubUser) and module.module_id == "mod1"
    assert topics.parse_username("plain-user") is None and topics.parse_username(None) is None
    assert topics.filter_matches("$iothub/twin/res/#", "$iothub/twin/res/200/?$rid=1")
    assert topics.filter_matches("a/+/c", "a/b/c") and not topics.filter_matches("a/+/c", "a/b/d/c")
    assert not topics.valid_filter("a/#/b") and not topics.valid_filter("a/b+") and topics.valid_filter("#")
    assert topics.hub_publish_kind("d1", "2021-04-12", "devices/d1/messages/events/") == "telemetry"
    assert topics.hub_publish_kind("d1", "2021-04-12", "devices/d2/messages/events/") is None
    assert topics.hub_publish_kind("d1", "2021-04-12", "$iothub/twin/GET/?$rid=1") == "twin-get"
    assert topics.hub_publish_kind("d1", "2021-04-12", "$iothub/methods/res/200/?$rid=1") == "method-response"
    # the renewal topics exist from api-version 2025-08-01-preview on
    assert topics.hub_publish_kind("d1", "2021-04-12", "$iothub/credentials/POST/issueCertificate/?$rid=1") is None
    assert topics.hub_publish_kind("d1", HUB_MQTT_API,
                                   "$iothub/credentials/POST/issueCertificate/?$rid=1") == "issue-certificate"
    assert topics.telemetry_properties("d1", "devices/d1/messages/events/%24.mid=1&a%20b=c%2Fd") == {
        "$.mid": "1", "a b": "c/d"}
    assert topics.hub_may_subscribe("d1", "2021-04-12", "devices/d1/messages/devicebound/#")
    assert not topics.hub_may_subscribe("d1", "2021-04-12", "devices/+/messages/devicebound/#")
    assert not topics.hub_may_subscribe("d1", "2021-04-12", "$iothub/credentials/res/#")
