"""A device talking to DPS over MQTT (dps-api.md §2): register and poll, answered like HTTPS.

The registration logic is `provider.dps.registration`, shared with the HTTPS API; this module only
maps topics to calls and results to `$dps/registrations/res/{status}/?$rid=...&retry-after=...`.
Authentication (SAS password or TLS client certificate) is checked at CONNECT with the core's
`authenticate`, so bad credentials get CONNACK 5 as from real DPS (the SDKs raise a credential
error rather than retrying); the core checks it again on every request, exactly as for HTTPS.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from provider.dps import registration
from provider.dps.errors import INVALID_BODY, DpsError
from provider.dps.registration import DeviceEvidence
from provider.mqtt import codec, topics
from provider.mqtt.session import DeviceEndpoint, Refused

if TYPE_CHECKING:
    from provider.mqtt.server import MqttServer
    from provider.mqtt.session import Connection

log = logging.getLogger("adr_emulator.mqtt")


class DpsDevice(DeviceEndpoint):
    """The DPS side of one connection (`{idScope}/registrations/{registrationId}/api-version=...`)."""

    persistent = False  # "DPS always treats the session as non-persistent" (dps-api.md §2)

    def __init__(self, server: MqttServer, conn: Connection, user: topics.DpsUser, client_id: str,
                 password: str | None) -> None:
        super().__init__(server, conn, user, client_id)
        self.evidence = DeviceEvidence(sas_token=password, client_chain_der=conn.stream.client_chain_der(),
                                       transport="mqtt")
        self.key: tuple = ("dps", user.id_scope.lower(), user.registration_id)

    def describe(self) -> str:
        method = "SAS" if self.evidence.sas_token else "X.509"
        return f"DPS scope {self.user.id_scope}, {method}, api-version {self.user.api_version}"

    async def authenticate(self) -> None:
        if self.client_id != self.user.registration_id:
            raise Refused(codec.IDENTIFIER_REJECTED,
                          f"client id '{self.client_id}' differs from the registration id in the user name")
        if not self.user.api_version:
            raise Refused(codec.NOT_AUTHORISED, "the user name carries no api-version")
        reason = await self.server.run_blocking(self._authenticate)
        if reason is not None:
            raise Refused(codec.NOT_AUTHORISED, reason)

    def _authenticate(self) -> str | None:
        try:
            dps = registration.find_dps(self.emu, self.user.id_scope)
            if not self.evidence.sas_token and not self.evidence.client_chain_der:
                # TPM round 1 carries no credential: the register message brings the EK and gets the challenge
                if registration.uses_tpm(self.emu, dps, self.user.registration_id):
                    return None
                return "no SAS token and no client certificate"
            registration.authenticate(self.emu, dps, self.user.id_scope, self.user.registration_id, self.evidence)
        except DpsError as exc:
            return f"DPS {exc.error_code}: {exc.message}"
        return None

    def recheck(self) -> str | None:
        return None

    def may_subscribe(self, topic_filter: str) -> bool:
        return topics.dps_may_subscribe(topic_filter)

    def classify_publish(self, topic: str) -> str | None:
        base, _ = topics.split_topic(topic)
        return {topics.DPS_REGISTER: "register", topics.DPS_STATUS: "status"}.get(base)

    async def on_connected(self) -> None:
        return None

    async def on_closed(self) -> None:
        return None

    async def on_publish(self, kind: str, topic: str, payload: bytes) -> None:
        _, bag = topics.split_topic(topic)
        rid = bag.get("$rid", "")
        status, body, headers = await self.server.run_blocking(self._call, kind, bag, payload)
        reply = f"$dps/registrations/res/{status}/?$rid={quote(rid, safe='')}"
        retry_after = {k.lower(): v for k, v in (headers or {}).items()}.get("retry-after")
        if retry_after:
            reply += f"&retry-after={quote(str(retry_after), safe='')}"
        self.conn.deliver(reply, json.dumps(body).encode() if body is not None else b"")

    def _call(self, kind: str, bag: dict[str, str], payload: bytes) -> tuple[int, Any, dict[str, str]]:
        user = self.user
        try:
            if kind == "register":
                text = payload.decode("utf-8", errors="replace").strip()
                try:
                    body = json.loads(text) if text else {}
                except ValueError:
                    raise DpsError(INVALID_BODY, "The register payload is not JSON.") from None
                return registration.register(self.emu, user.id_scope, user.registration_id, body, self.evidence,
                                             user.api_version)
            return registration.operation_status(self.emu, user.id_scope, user.registration_id,
                                                 bag.get("operationId", ""), self.evidence, user.api_version)
        except DpsError as exc:
            log.info("mqtt: DPS %s for %s refused: %s %s", kind, user.registration_id, exc.error_code, exc.message)
            return exc.status, exc.body(), exc.headers
