"""A device connected to an IoT hub: authentication, then telemetry, twin, methods and renewal topics.

Registry, twin and PKI work runs on the listener's worker threads (`server.run_blocking`): it
touches SQLite and may sign, and must not stall every other connection's keepalive.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from provider.common import utc_z
from provider.hub import auth as hub_auth
from provider.hub import registry
from provider.hub.registry import HubError
from provider.mqtt import codec, topics
from provider.mqtt.session import DeviceEndpoint, Refused
from provider.pki.errors import PkiError

if TYPE_CHECKING:
    from provider.mqtt.server import MqttServer
    from provider.mqtt.session import Connection
    from provider.state import Emulator

log = logging.getLogger("adr_emulator.mqtt")

RENEWAL_OPERATION_SECONDS = 3600


class RenewalError(Exception):
    """A refused `issueCertificate` request, in the hub's credential error shape (dps-api.md §6)."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status = error_code // 1000
        self.message = message


class HubDevice(DeviceEndpoint):
    """The IoT Hub side of one connection (`{hubHostName}/{deviceId}/?api-version=...`)."""

    persistent = True

    def __init__(self, server: MqttServer, conn: Connection, user: topics.HubUser, client_id: str,
                 password: str | None) -> None:
        super().__init__(server, conn, user, client_id)
        self.password = password
        self.chain_der = conn.stream.client_chain_der()
        self.hub_doc: dict[str, Any] | None = None
        self.auth: hub_auth.DeviceAuth | None = None
        self.key: tuple = ("hub", user.host, user.device_id)
        self._renewal_busy = False

    def describe(self) -> str:
        assert self.auth is not None
        return f"hub {self.auth.hub_name}, {self.auth.method}{', ADR certificate' if self.auth.adr_issued else ''}"

    # ---- authentication --------------------------------------------------------------------------------
    async def authenticate(self) -> None:
        if self.user.module_id is not None:
            raise hub_auth.AuthRefused("module identities are not emulated")
        if self.client_id != self.user.device_id:
            raise Refused(codec.IDENTIFIER_REJECTED,
                          f"client id '{self.client_id}' differs from the device id in the user name")
        self.hub_doc, self.auth = await self.server.run_blocking(self._authenticate)
        self.key = ("hub", self.auth.hub_id, self.auth.device_id)

    def _authenticate(self) -> tuple[dict[str, Any], hub_auth.DeviceAuth]:
        hub = self.emu.hub.by_host(self.user.host)
        if hub is None:
            raise hub_auth.AuthRefused(f"no IoT hub has the host name '{self.user.host}'")
        return hub, hub_auth.authenticate_device(self.emu, hub, self.user.device_id, sas_token=self.password,
                                                 chain_der=self.chain_der)

    def recheck(self) -> str | None:
        """Run again (worker thread) after a change; the reason to drop the connection, or None."""
        hub = self.emu.repo.get(self.auth.hub_id) if self.auth else None
        if hub is None:
            return "the hub was deleted"
        try:
            self.auth = hub_auth.authenticate_device(self.emu, hub, self.user.device_id, sas_token=self.password,
                                                     chain_der=self.chain_der)
            self.hub_doc = hub
        except hub_auth.AuthRefused as exc:
            return exc.reason
        return None

    # ---- ACL -----------------------------------------------------------------------------------------------
    def may_subscribe(self, topic_filter: str) -> bool:
        return topics.hub_may_subscribe(self.user.device_id, self.user.api_version, topic_filter)

    def classify_publish(self, topic: str) -> str | None:
        return topics.hub_publish_kind(self.user.device_id, self.user.api_version, topic)

    # ---- connection state -------------------------------------------------------------------------------
    async def on_connected(self) -> None:
        await self.server.run_blocking(self._set_connection_state, "Connected")

    async def on_closed(self) -> None:
        if self.server.current(self.key) in (None, self.conn):
            await self.server.run_blocking(self._set_connection_state, "Disconnected")

    def _set_connection_state(self, state: str) -> None:
        if self.hub_doc is None:
            return
        now = utc_z(self.emu.now())
        try:
            registry.update_device_fields(self.emu.store, self.hub_doc, self.user.device_id, connectionState=state,
                                          connectionStateUpdatedTime=now, lastActivityTime=now)
        except HubError:
            pass  # deleted meanwhile

    # ---- publishes ---------------------------------------------------------------------------------------
    async def on_publish(self, kind: str, topic: str, payload: bytes) -> None:
        if kind == "telemetry":
            props = topics.telemetry_properties(self.user.device_id, topic) or {}
            self.emu.hub.telemetry.record(self.auth.hub_name, self.auth.device_id, props, payload, self.emu.now())
            return
        _, bag = topics.split_topic(topic)
        rid = bag.get("$rid", "")
        if kind == "twin-get":
            await self._twin_get(rid)
        elif kind == "twin-reported":
            await self._twin_reported(rid, payload)
        elif kind == "method-response":
            status = topic[len(topics.METHOD_RESPONSE_PREFIX):].split("/", 1)[0]
            self.server.method_responses.resolve(self.auth.hub_id, self.auth.device_id, rid, int(status), payload)
        elif kind == "issue-certificate":
            await self._issue_certificate(rid, payload)

    def _twin_reply(self, status: int, rid: str, body: Any = None, version: int | None = None) -> None:
        topic = f"$iothub/twin/res/{status}/?$rid={quote(rid, safe='')}"
        if version is not None:
            topic += f"&$version={version}"
        self.conn.deliver(topic, b"" if body is None else json.dumps(body).encode())

    async def _twin_get(self, rid: str) -> None:
        try:
            twin = await self.server.run_blocking(registry.device_twin_for_device, self.emu.store, self.hub_doc,
                                                  self.auth.device_id)
        except HubError as exc:
            self._twin_reply(exc.status, rid, exc.body())
            return
        self._twin_reply(200, rid, twin)

    async def _twin_reported(self, rid: str, payload: bytes) -> None:
        try:
            patch = json.loads(payload or b"null")
        except ValueError:
            patch = None
        if not isinstance(patch, dict):
            self._twin_reply(400, rid, HubError(400, "ArgumentInvalid", "The reported patch must be a JSON object.")
                             .body())
            return
        try:
            version = await self.server.run_blocking(registry.patch_reported, self.emu.store, self.hub_doc,
                                                     self.auth.device_id, patch)
        except HubError as exc:
            self._twin_reply(exc.status, rid, exc.body())
            return
        self._twin_reply(204, rid, None, version)

    # ---- certificate renewal (dps-api.md §6) ---------------------------------------------------------------
    def _renewal_reply(self, status: int, rid: str, body: dict[str, Any]) -> None:
        self.conn.deliver(f"$iothub/credentials/res/{status}/?$rid={quote(rid, safe='')}", json.dumps(body).encode())

    async def _issue_certificate(self, rid: str, payload: bytes) -> None:
        now = self.emu.now()
        correlation_id = str(uuid.uuid4())
        expires = utc_z(now + timedelta(seconds=RENEWAL_OPERATION_SECONDS))
        try:
            request = _renewal_request(payload, self.auth.device_id)
            if self._renewal_busy and request.get("replace") != "*":
                raise RenewalError(409005, "Another certificate operation is active; send replace='*'.")
            self._renewal_busy = True
            self._renewal_reply(202, rid, {"correlationId": correlation_id, "operationExpires": expires})
            chain = await self.server.run_blocking(issue_for_device, self.emu, self.hub_doc, self.auth.device_id,
                                                   request["csr"])
        except RenewalError as exc:
            self._renewal_reply(exc.status, rid, {
                "errorCode": exc.error_code, "message": exc.message, "trackingId": uuid.uuid4().hex,
                "timestampUtc": utc_z(now),
                "info": {"correlationId": correlation_id, "requestId": rid, "operationExpires": expires}})
            return
        finally:
            self._renewal_busy = False
        log.info("mqtt: issued a renewed certificate to %s on hub %s", self.auth.device_id, self.auth.hub_name)
        self._renewal_reply(200, rid, {"certificates": chain, "correlationId": correlation_id})


def _renewal_request(payload: bytes, device_id: str) -> dict[str, Any]:
    try:
        request = json.loads(payload or b"null")
    except ValueError:
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("csr"), str) or not request["csr"]:
        raise RenewalError(400040, "The request body must be {\"id\", \"csr\": <base64 DER PKCS#10>}.")
    if request.get("id") not in (None, device_id):
        raise RenewalError(400040, "The request's id is not the connected device's id.")
    return request


def issue_for_device(emu: Emulator, hub_doc: dict[str, Any], device_id: str, csr: str) -> list[str]:
    """Sign a renewal CSR with the ADR device's policy and current revocation id; base64 DER chain."""
    adr = hub_auth.adr_device_for(emu, hub_doc, device_id)
    if adr is None:
        raise RenewalError(400040, f"The hub's namespace has no ADR device '{device_id}'.")
    if not (adr.get("properties") or {}).get("enabled", True):
        raise RenewalError(400040, f"The ADR device '{device_id}' is disabled.")
    policy_id = ((adr.get("properties") or {}).get("policy") or {}).get("resourceId")
    policy = emu.adr.policy_by_id(policy_id) if policy_id else None
    if policy is None:
        raise RenewalError(400040, f"The ADR device '{device_id}' has no certificate policy.")
    try:
        chain = emu.pki.issue_leaf(emu.adr.signing_owner(policy["id"]), csr, device_id,
                                   emu.adr.leaf_validity_days(policy), adr["_revocationId"])
    except PkiError as exc:
        raise RenewalError(400040, f"The CSR was refused ({exc.code}): {exc.message}") from None
    return chain.chain_b64()
