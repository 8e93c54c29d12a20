"""An MQTT device client (paho 2.x) and the DPS + hub setup the MQTT tests and the device SDK test share."""

from __future__ import annotations

import queue
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import paho.mqtt.client as mqtt
import requests

from provider.dps.sas import derive_device_key, generate_sas
from tests.support.adr_setup import ns_path
from tests.support.dps_helpers import (
    HUB_SERVICE_API,
    DpsEnv,
    chain_from,
    create_env,
    csr_b64,
    new_key_b64,
    unique,
    write_client_files,
)
from tests.support.emulator_process import Arm, EmulatorProcess

DPS_MQTT_API = "2025-07-01-preview"
HUB_MQTT_API = "2025-08-01-preview"
NOT_AUTHORISED = 135  # paho's reason code for CONNACK return code 5
TLS_REFUSED = -1


# ---- a small device client ------------------------------------------------------------------------------
class Device:
    """paho 2.x with what a device needs: connect result, request/response by `$rid`, drop detection."""

    def __init__(self, port: int, ca_file: str, client_id: str, username: str, password: str | None = None,
                 cert: tuple[str, str] | None = None, websocket: bool = False, clean: bool = True) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                                  protocol=mqtt.MQTTv311, transport="websockets" if websocket else "tcp")
        if websocket:
            self.client.ws_set_options(path="/$iothub/websocket")
        self.client.username_pw_set(username, password)
        self.client.tls_set(ca_certs=ca_file, certfile=cert[0] if cert else None, keyfile=cert[1] if cert else None,
                            cert_reqs=ssl.CERT_REQUIRED)
        self.port = port
        self.messages: queue.Queue = queue.Queue()
        self.connack: queue.Queue = queue.Queue()
        self.subacks: queue.Queue = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc.value)
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnected.set()
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put([r.value for r in rcs])

    def connect(self, timeout: float = 15) -> int:
        """The CONNACK code (0 accepted, 135 not authorised), or TLS_REFUSED if TLS or the socket failed."""
        try:
            self.client.connect("localhost", self.port, keepalive=30)
        except (ssl.SSLError, OSError):
            return TLS_REFUSED
        self.client.loop_start()
        try:
            return self.connack.get(timeout=timeout)
        except queue.Empty:
            return TLS_REFUSED  # TLS 1.3 reports a refused client certificate after the handshake

    def subscribe(self, *filters: str) -> list[int]:
        self.client.subscribe([(f, 1) for f in filters])
        return self.subacks.get(timeout=10)

    def publish(self, topic: str, payload: bytes | str = b"", qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(10)

    def wait_for(self, prefix: str, rid: str | None = None, timeout: float = 15) -> tuple[int, dict, bytes]:
        """(status, property bag, payload) of the next message under `prefix` (with this `$rid`)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                topic, payload = self.messages.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if not topic.startswith(prefix):
                continue
            rest, _, query = topic[len(prefix):].partition("?")
            bag = dict(parse_qsl(query, keep_blank_values=True))
            if rid is None or bag.get("$rid") == rid:
                status = rest.strip("/").split("/")[0]
                return (int(status) if status.isdigit() else 0), bag, payload
        raise AssertionError(f"no message under {prefix} (rid {rid}) within {timeout} s")

    def request(self, topic: str, payload: bytes | str, response_prefix: str) -> tuple[int, dict, bytes]:
        rid = uuid.uuid4().hex
        sep = "&" if "?" in topic else "?"
        self.publish(f"{topic}{sep}$rid={rid}", payload)
        return self.wait_for(response_prefix, rid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ---- fixtures -------------------------------------------------------------------------------------------
@dataclass
class Setup:
    emulator: EmulatorProcess
    arm: Arm
    env: DpsEnv
    group_key: str
    tmp: Path

    @property
    def port(self) -> int:
        return self.emulator.mqtt_port

    def device_key(self, registration_id: str) -> str:
        return derive_device_key(self.group_key, registration_id)

    def dps_device(self, registration_id: str, **kw) -> Device:
        token = generate_sas(f"{self.env.id_scope}/registrations/{registration_id}", self.device_key(registration_id),
                             None)
        return Device(self.port, self.env.ca_file, registration_id,
                      f"{self.env.id_scope}/registrations/{registration_id}/api-version={DPS_MQTT_API}"
                      "&ClientVersion=tests", token, **kw)

    def hub_device(self, device_id: str, cert: tuple[str, str] | None, hub_host: str | None = None,
                   username_device: str | None = None, **kw) -> Device:
        host = hub_host or self.env.hub_host
        return Device(self.port, self.env.ca_file, username_device or device_id,
                      f"{host}/{username_device or device_id}/?api-version={HUB_MQTT_API}&DeviceClientType=tests",
                      cert=cert, **kw)

    def hub_token(self) -> str:
        return generate_sas(self.env.hub_host, self.env.hub_owner_key, "iothubowner")

    def hub_api(self, method: str, path: str, body=None, headers: dict | None = None) -> requests.Response:
        all_headers = {"Authorization": self.hub_token(), **(headers or {})}
        return requests.request(method, f"{self.env.https}{path}?api-version={HUB_SERVICE_API}", json=body,
                                headers=all_headers, verify=self.env.ca_file, timeout=30)

    def telemetry(self, device_id: str) -> dict:
        r = requests.get(f"{self.env.http}/_emulator/hubs/{self.env.hub_name}/devices/{device_id}/messages",
                         timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def provision_https(self, registration_id: str) -> tuple[str, str]:
        """Register over HTTPS with a CSR; (chain file, key file) ready for TLS."""
        key, csr = csr_b64(registration_id)
        result = self.env.provision(registration_id, key=self.device_key(registration_id), csr=csr)
        return write_client_files(self.tmp, registration_id, key, chain_from(result))


def synchronize(arm: Arm, env: DpsEnv) -> None:
    """`az iot adr ns credential sync`: push the policies' issuing CAs to the linked hub."""
    r = arm.post(f"{ns_path(env.rg, env.namespace)}/credentials/default/synchronize")
    assert r.status_code in (200, 202), r.text
    if r.status_code == 202:
        for _ in range(100):
            done = requests.get(r.headers["Location"], timeout=10)
            if done.status_code != 202:
                assert done.status_code == 200, done.text
                return
            time.sleep(0.1)
        raise AssertionError("the credential sync did not finish")


def make_setup(emulator: EmulatorProcess, arm: Arm, tmp: Path) -> Setup:
    rg = unique("rg-mqtt-")
    arm.group(rg)
    env = create_env(arm, emulator, rg)
    synchronize(arm, env)
    group_key = new_key_b64()
    env.put_enrollment({"enrollmentGroupId": unique("grp"), "credentialPolicyName": env.policy,
                        "attestation": {"type": "symmetricKey",
                                        "symmetricKey": {"primaryKey": group_key, "secondaryKey": new_key_b64()}}},
                       group=True)
    return Setup(emulator, arm, env, group_key, tmp)
