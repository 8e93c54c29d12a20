"""MQTT listener: DPS registration with a CSR, hub X.509 sessions, refusals, and a 300-device load.

Runs its own emulator process with `--mqtt-port 0 --mqtt-ws-port 0` (the session emulator has MQTT
off) and talks to it with paho-mqtt 2.x, as device code would. Marked `process`: its refusal tests wait
out connection timeouts, which would not fit the fast suite.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography import x509

from provider.dps.sas import generate_sas
from tests.support.adr_setup import ns_path
from tests.support.dps_helpers import (
    chain_from,
    csr_b64,
    make_device_cert,
    new_key_b64,
    openssl_verify,
    unique,
    write_client_files,
)
from tests.support.emulator_process import Arm, EmulatorProcess
from tests.support.ga_setup import GA, ca_path, ga_env_with_group
from tests.support.mqtt_devices import (
    DPS_MQTT_API,
    NOT_AUTHORISED,
    TLS_REFUSED,
    Device,
    Setup,
    make_setup,
    synchronize,
)

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def mqtt_emulator():
    with EmulatorProcess("--mqtt-port", "0", "--mqtt-ws-port", "0") as proc:
        assert proc.mqtt_port
        yield proc


@pytest.fixture(scope="module")
def setup(mqtt_emulator, tmp_path_factory) -> Setup:
    return make_setup(mqtt_emulator, Arm(mqtt_emulator.http), tmp_path_factory.mktemp("mqtt"))


def provision_mqtt(setup: Setup, registration_id: str, websocket: bool = False) -> tuple[dict, tuple[str, str]]:
    """DPS over MQTT with a CSR: (final operation status, (chain file, key file))."""
    ws_port = int(setup.emulator.urls["MQTT over WebSockets"].split(":")[2].split("/")[0]) if websocket else None
    dev = setup.dps_device(registration_id, websocket=websocket)
    if ws_port:
        dev.port = ws_port
    assert dev.connect() == 0
    try:
        assert dev.subscribe("$dps/registrations/res/#") == [1]
        key, csr = csr_b64(registration_id)
        body = json.dumps({"registrationId": registration_id, "csr": csr})
        status, bag, payload = dev.request("$dps/registrations/PUT/iotdps-register/", body, "$dps/registrations/res/")
        assert status == 202, payload
        assert bag["retry-after"] == "1"
        operation = json.loads(payload)
        assert operation["status"] == "assigning"
        status, _, payload = dev.request(
            f"$dps/registrations/GET/iotdps-get-operationstatus/?operationId={operation['operationId']}", " ",
            "$dps/registrations/res/")
        assert status == 200, payload
        result = json.loads(payload)
    finally:
        dev.close()
    return result, write_client_files(setup.tmp, registration_id, key, chain_from(result))


# ---- DPS over MQTT ---------------------------------------------------------------------------------------
def test_dps_csr_over_mqtt_matches_https(setup):
    result, _ = provision_mqtt(setup, unique("mq-"))
    assert result["status"] == "assigned"
    state = result["registrationState"]
    assert state["assignedHub"] == setup.env.hub_host and state["deviceId"] == state["registrationId"]
    chain = chain_from(result)
    assert [c.subject.rfc4514_string() for c in chain][0] == f"CN={state['registrationId']}"
    assert openssl_verify(setup.env.root_pem, setup.env.ica_pem, chain[0]).returncode == 0
    # the same registration over HTTPS answers with the same shape and the same issuer chain
    reg = unique("hs-")
    key, csr = csr_b64(reg)
    https = setup.env.provision(reg, key=setup.device_key(reg), csr=csr)
    assert set(https["registrationState"]) == set(state)
    assert [c.issuer for c in chain_from(https)] == [c.issuer for c in chain]


def test_ga_policy_over_mqtt_then_revoke_and_rotate(mqtt_emulator, tmp_path):
    """The GA model over MQTT: a 2026-11-01 enrollment names a GA policy; the device registers over
    MQTT with a CSR, connects to the hub with leaf -> ICA; after revokeAndRotate it is refused."""
    arm = Arm(mqtt_emulator.http)
    env, group_key = ga_env_with_group(arm, mqtt_emulator, "ga-mqtt")
    ga = Setup(mqtt_emulator, arm, env, group_key, tmp_path)
    device_id = unique("gam-")
    result, cert = provision_mqtt(ga, device_id)
    chain = chain_from(result)
    assert len(chain) == 3 and openssl_verify(env.root_pem, env.ica_pem, chain[0]).returncode == 0
    dev = ga.hub_device(device_id, cert)
    assert dev.connect() == 0
    dev.close()
    assert arm.post(f"{ca_path(env.rg, env.namespace, 'fleet-ica')}/revokeAndRotate",
                    api_version=GA).status_code in (202, 204)
    again = ga.hub_device(device_id, cert)
    try:
        code = again.connect()
    except (ssl.SSLError, OSError, TimeoutError):
        code = "tls-refused"  # the rotated-out CA is no longer in the listener's trust store
    finally:
        again.close()
    assert code != 0


def test_dps_over_websockets_and_bad_credentials(setup):
    result, _ = provision_mqtt(setup, unique("ws-"), websocket=True)
    assert result["status"] == "assigned"
    reg = unique("bad-")
    wrong = generate_sas(f"{setup.env.id_scope}/registrations/{reg}", new_key_b64(), None)
    dev = Device(setup.port, setup.env.ca_file, reg,
                 f"{setup.env.id_scope}/registrations/{reg}/api-version={DPS_MQTT_API}", wrong)
    assert dev.connect() == NOT_AUTHORISED
    dev.close()


def test_dps_subscription_acl_and_error_reply(setup):
    reg = unique("acl-")
    dev = setup.dps_device(reg)
    assert dev.connect() == 0
    assert dev.subscribe("$dps/registrations/res/#", "$iothub/twin/res/#", "#") == [1, 0x80, 0x80]
    status, _, payload = dev.request("$dps/registrations/PUT/iotdps-register/", "not json",
                                     "$dps/registrations/res/")
    assert status == 400 and json.loads(payload)["errorCode"] == 400001
    dev.close()


# ---- IoT Hub over MQTT ------------------------------------------------------------------------------------
def _twin_round_trip(dev: Device, reported: dict) -> dict:
    status, bag, payload = dev.request("$iothub/twin/PATCH/properties/reported/", json.dumps(reported),
                                       "$iothub/twin/res/")
    assert status == 204 and payload == b"" and int(bag["$version"]) >= 2
    status, _, payload = dev.request("$iothub/twin/GET/", " ", "$iothub/twin/res/")
    assert status == 200
    return json.loads(payload)


def test_hub_x509_twin_telemetry_desired_and_renewal(setup):
    device_id = unique("hx-")
    _, files = provision_mqtt(setup, device_id)
    leaf = x509.load_pem_x509_certificate(Path(files[0]).read_bytes())
    dev = setup.hub_device(device_id, files)
    assert dev.connect() == 0
    assert dev.subscribe("$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#",
                         "$iothub/methods/POST/#", "$iothub/credentials/res/#",
                         f"devices/{device_id}/messages/devicebound/#") == [1, 1, 1, 1, 1]
    validity = {"certificate": {"validFrom": leaf.not_valid_before_utc.isoformat(),
                                "validUntil": leaf.not_valid_after_utc.isoformat()}}
    twin = _twin_round_trip(dev, validity)
    assert twin["reported"]["certificate"] == validity["certificate"]
    for i in range(10):
        dev.publish(f"devices/{device_id}/messages/events/%24.mid=m{i}&%24.ct=application%2Fjson&kind=t",
                    json.dumps({"i": i}))
    seen = setup.telemetry(device_id)
    assert seen["count"] == 10
    assert seen["messages"][-1]["properties"] == {"kind": "t"}
    assert seen["messages"][-1]["systemProperties"] == {"messageId": "m9", "contentType": "application/json"}
    # the service API sees the reported properties and the connection
    service_twin = setup.hub_api("GET", f"/twins/{device_id}").json()
    assert service_twin["properties"]["reported"]["certificate"] == validity["certificate"]
    assert service_twin["connectionState"] == "Connected"
    # a desired patch reaches the connected device
    r = setup.hub_api("PATCH", f"/twins/{device_id}", {"properties": {"desired": {"interval": 5}}})
    assert r.status_code == 200, r.text
    _, bag, payload = dev.wait_for("$iothub/twin/PATCH/properties/desired/")
    assert json.loads(payload)["interval"] == 5 and bag["$version"] == str(json.loads(payload)["$version"])
    # hub-side renewal: 202 then 200 with a chain that authenticates the device
    key, csr = csr_b64(device_id)
    rid = uuid.uuid4().hex
    dev.publish(f"$iothub/credentials/POST/issueCertificate/?$rid={rid}",
                json.dumps({"id": device_id, "csr": csr, "replace": "*"}))
    status, _, payload = dev.wait_for("$iothub/credentials/res/", rid)
    assert status == 202 and json.loads(payload)["correlationId"]
    status, _, payload = dev.wait_for("$iothub/credentials/res/", rid)
    assert status == 200, payload
    certificates = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in json.loads(payload)["certificates"]]
    dev.close()
    renewed = write_client_files(setup.tmp, f"{device_id}-renewed", key, certificates)
    again = setup.hub_device(device_id, renewed)
    assert again.connect() == 0
    again.close()


def test_hub_direct_method(setup):
    device_id = unique("dm-")
    _, files = provision_mqtt(setup, device_id)
    dev = setup.hub_device(device_id, files)
    assert dev.connect() == 0
    dev.subscribe("$iothub/methods/POST/#")

    def answer() -> None:
        _, bag, payload = dev.wait_for("$iothub/methods/POST/reboot")
        dev.publish(f"$iothub/methods/res/200/?$rid={bag['$rid']}", json.dumps({"echo": json.loads(payload)}))

    thread = threading.Thread(target=answer)
    thread.start()
    r = setup.hub_api("POST", f"/twins/{device_id}/methods", {"methodName": "reboot", "payload": {"in": 3},
                                                               "responseTimeoutInSeconds": 10})
    thread.join(10)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": 200, "payload": {"echo": {"in": 3}}}
    dev.close()


def test_device_topic_acl(setup):
    mine, other = unique("me-"), unique("ot-")
    _, files = provision_mqtt(setup, mine)
    provision_mqtt(setup, other)
    dev = setup.hub_device(mine, files)
    assert dev.connect() == 0
    # subscribing to another device's (or every) topic: SUBACK failure, the connection stays
    assert dev.subscribe(f"devices/{other}/messages/devicebound/#", "devices/+/messages/devicebound/#", "#",
                         f"devices/{mine}/messages/devicebound/#") == [0x80, 0x80, 0x80, 1]
    # publishing as another device: the hub closes the connection
    dev.client.publish(f"devices/{other}/messages/events/", "spoof", qos=1)
    assert dev.disconnected.wait(10)
    dev.client.loop_stop()
    assert setup.telemetry(other)["count"] == 0


# ---- refusals ---------------------------------------------------------------------------------------------
def _connected(setup: Setup, device_id: str, files: tuple[str, str]) -> Device:
    dev = setup.hub_device(device_id, files)
    assert dev.connect() == 0
    return dev


def _refused(setup: Setup, device_id: str, files: tuple[str, str] | None, **kw) -> int:
    dev = setup.hub_device(device_id, files, **kw)
    code = dev.connect()
    dev.client.loop_stop()
    return code


def test_disabled_device_is_dropped_and_refused(setup):
    device_id = unique("dis-")
    _, files = provision_mqtt(setup, device_id)
    dev = _connected(setup, device_id, files)
    current = setup.hub_api("GET", f"/devices/{device_id}").json()
    r = setup.hub_api("PUT", f"/devices/{device_id}", {**current, "status": "disabled"},
                      headers={"If-Match": f'"{current["etag"]}"'})
    assert r.status_code == 200, r.text
    assert dev.disconnected.wait(10)  # dropped before the PUT answered, at the latest shortly after
    assert _refused(setup, device_id, files) == NOT_AUTHORISED


def test_revoked_device_is_dropped_and_refused(setup):
    device_id = unique("rev-")
    _, files = provision_mqtt(setup, device_id)
    dev = _connected(setup, device_id, files)
    r = setup.arm.post(f"{ns_path(setup.env.rg, setup.env.namespace)}/devices/{device_id}/revoke", {})
    assert r.status_code in (200, 202), r.text
    assert dev.disconnected.wait(10)
    assert _refused(setup, device_id, files) == NOT_AUTHORISED
    # a new registration gets a certificate with the new revocation id, which works again
    _, fresh = provision_mqtt(setup, device_id)
    _connected(setup, device_id, fresh).close()


def test_rotated_issuer_is_dropped_after_sync(mqtt_emulator, tmp_path):
    own = make_setup(mqtt_emulator, Arm(mqtt_emulator.http), tmp_path)  # rotation must not disturb other tests
    device_id = unique("rot-")
    _, files = provision_mqtt(own, device_id)
    dev = _connected(own, device_id, files)
    policy = f"{ns_path(own.env.rg, own.env.namespace)}/credentials/default/policies/{own.env.policy}"
    r = own.arm.post(f"{policy}/revokeIssuer")
    assert r.status_code in (200, 202, 204), r.text
    assert not dev.disconnected.wait(1.5)  # the hub still trusts the old issuer until the sync
    synchronize(own.arm, own.env)
    assert dev.disconnected.wait(10)
    assert _refused(own, device_id, files) in (NOT_AUTHORISED, TLS_REFUSED)
    _, fresh = provision_mqtt(own, device_id)
    _connected(own, device_id, fresh).close()


def test_expired_certificate_on_the_emulator_clock(setup):
    device_id = unique("exp-")
    _, files = provision_mqtt(setup, device_id)
    dev = _connected(setup, device_id, files)
    clock = f"{setup.env.http}/_emulator/clock"
    try:
        r = requests.post(clock, json={"advanceSeconds": 31 * 86400}, timeout=30)
        assert r.status_code == 200 and r.json()["offsetSeconds"] == 31 * 86400
        assert dev.disconnected.wait(10)
        assert _refused(setup, device_id, files) == NOT_AUTHORISED
    finally:
        assert requests.post(clock, json={"offsetSeconds": 0}, timeout=30).status_code == 200
    _connected(setup, device_id, files).close()


def test_chain_from_another_namespace(setup, mqtt_emulator, tmp_path):
    other = make_setup(mqtt_emulator, Arm(mqtt_emulator.http), tmp_path)
    device_id = unique("xns-")
    provision_mqtt(setup, device_id)  # the device exists on our hub...
    _, foreign = provision_mqtt(other, device_id)  # ...but this chain is from the other namespace
    assert _refused(setup, device_id, foreign) == NOT_AUTHORISED
    assert _refused(other, device_id, foreign) == 0


def test_no_certificate_wrong_cn_unknown_hub(setup, tmp_path):
    device_id, neighbour = unique("cn-"), unique("cn-")
    _, files = provision_mqtt(setup, device_id)
    provision_mqtt(setup, neighbour)
    assert _refused(setup, device_id, None) == NOT_AUTHORISED
    # a valid chain for device_id presented as the neighbour (client id and user name say neighbour)
    assert _refused(setup, device_id, files, username_device=neighbour) == NOT_AUTHORISED
    assert _refused(setup, device_id, files, hub_host="nohub.azure-devices.localhost") == NOT_AUTHORISED
    # a self-signed certificate nobody trusts fails at TLS already
    key, cert = make_device_cert(device_id)
    assert _refused(setup, device_id, write_client_files(tmp_path, "self", key, [cert])) == TLS_REFUSED


def test_garbage_does_not_hurt_the_listener(setup):
    import socket

    # a bad remaining length, a PUBLISH before CONNECT, packet type 0, a CONNECT for MQTT 3.1
    connect_31 = b"\x10\x11\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x03abc"
    for junk in (b"\x10\xff\xff\xff\xff\x7f", b"\x30\x02\x00\x00", b"\x00" * 64, connect_31):
        raw = socket.create_connection(("127.0.0.1", setup.port), timeout=5)
        ctx = ssl.create_default_context(cafile=setup.env.ca_file)
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(junk)
            tls.settimeout(5)
            try:
                answer = tls.recv(16)
            except (ConnectionError, ssl.SSLError):
                answer = b""
            assert answer in (b"", b"\x20\x02\x00\x01")  # closed, or CONNACK 1 (unacceptable protocol)
    with socket.create_connection(("127.0.0.1", setup.port), timeout=5) as plain:
        plain.sendall(b"\x10\x00 not tls")
    device_id = unique("ok-")
    _, files = provision_mqtt(setup, device_id)
    _connected(setup, device_id, files).close()


# ---- load -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_300_devices_10_messages_each(setup):
    count, messages = 300, 10
    ids = [unique("ld-") for _ in range(count)]
    with ThreadPoolExecutor(8) as pool:
        files = dict(zip(ids, pool.map(setup.provision_https, ids), strict=True))
    devices = {d: setup.hub_device(d, files[d]) for d in ids}
    started = time.time()
    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(lambda d: devices[d].connect(timeout=60), ids))
    assert codes == [0] * count, f"refused: {[(d, c) for d, c in zip(ids, codes, strict=True) if c]}"
    connected = requests.get(f"{setup.env.http}/_emulator/hubs/{setup.env.hub_name}/connections", timeout=30).json()
    assert {c["deviceId"] for c in connected["connections"]} >= set(ids)  # all 300 at once

    def send(device_id: str) -> None:
        for i in range(messages):
            devices[device_id].publish(f"devices/{device_id}/messages/events/", f"{device_id}:{i}")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(send, ids))
    elapsed = time.time() - started
    assert elapsed < 120
    counts = {d: setup.telemetry(d)["count"] for d in ids}
    assert counts == {d: messages for d in ids}
    for dev in devices.values():
        dev.close()


def test_ping_and_keepalive_timeout(setup):
    """PINGREQ gets PINGRESP; a client silent for 1.5 x keepalive is disconnected."""
    import socket

    from amqtt.mqtt.connect import ConnectPacket, ConnectPayload, ConnectVariableHeader

    reg = unique("ka-")
    header = ConnectVariableHeader(keep_alive=1)
    header.username_flag = header.password_flag = header.clean_session_flag = True
    token = generate_sas(f"{setup.env.id_scope}/registrations/{reg}", setup.device_key(reg), None)
    connect = ConnectPacket(variable_header=header, payload=ConnectPayload(
        reg, username=f"{setup.env.id_scope}/registrations/{reg}/api-version={DPS_MQTT_API}", password=token))
    ctx = ssl.create_default_context(cafile=setup.env.ca_file)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", setup.port), timeout=10),
                         server_hostname="localhost") as tls:
        tls.sendall(connect.to_bytes())
        assert tls.recv(4) == b"\x20\x02\x00\x00"
        tls.sendall(b"\xc0\x00")  # PINGREQ
        assert tls.recv(2) == b"\xd0\x00"  # PINGRESP
        started = time.time()
        try:
            assert tls.recv(1) == b""  # then silence: closed after about 1.5 s
        except (ConnectionError, ssl.SSLError):
            pass
        assert 1.0 < time.time() - started < 5


def test_self_signed_device_by_thumbprint(setup, tmp_path):
    """A hub device of type selfSigned authenticates by thumbprint (its certificate is trusted for TLS
    because a DPS individual enrollment carries it)."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    from tests.support.dps_helpers import pem

    device_id = unique("ss-")
    key, cert = make_device_cert(device_id)
    setup.env.put_enrollment({"registrationId": device_id, "attestation": {
        "type": "x509", "x509": {"clientCertificates": {"primary": {"certificate": pem(cert)}}}}})
    thumb = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()  # noqa: S324
    r = setup.hub_api("PUT", f"/devices/{device_id}", {"authentication": {
        "type": "selfSigned", "x509Thumbprint": {"primaryThumbprint": thumb}}})
    assert r.status_code == 200, r.text
    files = write_client_files(tmp_path, device_id, key, [cert])
    _connected(setup, device_id, files).close()
    other_key, other = make_device_cert(device_id)  # same CN, other key: thumbprint differs
    setup.env.put_enrollment({"registrationId": unique("ss-"), "attestation": {
        "type": "x509", "x509": {"clientCertificates": {"primary": {"certificate": pem(other)}}}}})
    assert _refused(setup, device_id, write_client_files(tmp_path, "other", other_key, [other])) == NOT_AUTHORISED
