"""One MQTT 3.1.1 connection: CONNECT, the packet loop, subscriptions, QoS 0/1 and keepalive.

The connection knows MQTT; what a topic *means* belongs to its endpoint (`dps_endpoint`,
`hub_endpoint`), chosen from the CONNECT user name. Replies go only to this connection and only
through a subscription the device made, as on the real services. Every way a peer can misbehave
(malformed packet, QoS 2, a topic outside its ACL, silence past 1.5 x keepalive, a full write
buffer) ends this connection with a logged reason and never affects another one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from amqtt.mqtt.connect import ConnectPacket
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.mqtt.pingreq import PingReqPacket
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.subscribe import SubscribePacket
from amqtt.mqtt.unsubscribe import UnsubscribePacket

from provider.mqtt import codec, topics
from provider.mqtt.transport import ByteStream, describe

if TYPE_CHECKING:
    from provider.mqtt.server import MqttServer

log = logging.getLogger("adr_emulator.mqtt")

CONNECT_TIMEOUT = 10.0  # seconds from TLS handshake to CONNECT
MAX_KEEPALIVE = 1177  # IoT Hub's documented maximum (29.45 minutes)
MAX_SUBSCRIPTIONS = 32
MAX_INFLIGHT = 64  # unacknowledged QoS 1 messages to one device
MAX_WRITE_BUFFER = 1 << 20  # a device that stops reading is dropped rather than buffered forever


class Refused(Exception):
    """CONNECT refused with an MQTT return code; `reason` is logged, never sent."""

    def __init__(self, return_code: int, reason: str) -> None:
        super().__init__(reason)
        self.return_code = return_code
        self.reason = reason


class Endpoint(Protocol):
    """What a connection delegates to the DPS or IoT Hub side."""

    key: tuple
    persistent: bool

    async def authenticate(self) -> None: ...
    def may_subscribe(self, topic_filter: str) -> bool: ...
    def classify_publish(self, topic: str) -> str | None: ...
    async def on_publish(self, kind: str, topic: str, payload: bytes) -> None: ...
    async def on_connected(self) -> None: ...
    async def on_closed(self) -> None: ...
    def recheck(self) -> str | None: ...
    def describe(self) -> str: ...


class DeviceEndpoint:
    """What both sides keep of a connection: the listener, the emulator, the user name, the client id."""

    def __init__(self, server: MqttServer, conn: Connection, user: Any, client_id: str) -> None:
        self.server = server
        self.emu = server.emu
        self.conn = conn
        self.user = user
        self.client_id = client_id


@dataclass
class SessionState:
    """Subscriptions and unacknowledged QoS 1 messages; kept across connections when clean_session=0."""

    subscriptions: dict[str, int] = field(default_factory=dict)
    inflight: OrderedDict[int, tuple[str, bytes]] = field(default_factory=OrderedDict)
    last_packet_id: int = 0

    def next_packet_id(self) -> int:
        for _ in range(65535):
            self.last_packet_id = self.last_packet_id % 65535 + 1
            if self.last_packet_id not in self.inflight:
                return self.last_packet_id
        raise RuntimeError("no free packet id")  # unreachable: inflight is bounded far below 65535


class Connection:
    """A device's connection, from TLS-established stream to close."""

    def __init__(self, server: MqttServer, stream: ByteStream) -> None:
        self.server = server
        self.stream = stream
        self.endpoint: Endpoint | None = None
        self.client_id = ""
        self.state = SessionState()
        self.keepalive = 0
        self.closed = False
        self.close_reason: str | None = None
        self._will: tuple[str, bytes] | None = None
        self._graceful = False

    @property
    def label(self) -> str:
        return f"{self.client_id or '?'} ({describe(self.stream)})"

    # ---- lifecycle ------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            if await self._connect():
                await self._loop()
        except codec.ConnectionClosed:
            if not self.closed:
                self.close_reason = self.close_reason or "peer closed the connection"
        except codec.MalformedPacket as exc:
            self.close(f"malformed packet: {exc}")
        except TimeoutError:
            self.close("keepalive timeout" if self.endpoint else "no CONNECT in time")
        except (ConnectionError, OSError) as exc:
            self.close(f"connection error: {type(exc).__name__}")
        except asyncio.CancelledError:
            self.close("listener stopping")
            raise
        except Exception:  # a bug must cost one connection, not the listener
            log.exception("mqtt: unexpected error on %s", self.label)
            self.close("internal error")
        finally:
            await self._finish()

    async def _finish(self) -> None:
        self.close(self.close_reason or "connection ended")
        if self.endpoint is not None:
            if not self._graceful and self._will is not None:
                await self._publish_will()
            try:
                await self.endpoint.on_closed()
            except Exception:
                log.exception("mqtt: error while closing %s", self.label)
            self.server.unregister(self)

    def close(self, reason: str) -> None:
        """Close now (idempotent); safe to call from any coroutine of the listener loop."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        level = logging.DEBUG if reason in ("client disconnected", "peer closed the connection") else logging.INFO
        log.log(level, "mqtt: closing %s: %s", self.label, reason)
        self.stream.close()

    # ---- CONNECT -----------------------------------------------------------------------------------------
    async def _connect(self) -> bool:
        packet = await asyncio.wait_for(codec.read_packet(self.stream, self.server.max_packet), CONNECT_TIMEOUT)
        if not isinstance(packet, ConnectPacket):
            self.close("first packet was not CONNECT")
            return False
        if packet.proto_name != "MQTT" or packet.proto_level != 4:
            self._refuse(codec.BAD_PROTOCOL_VERSION, f"protocol {packet.proto_name!r} level {packet.proto_level} "
                                                     "(only MQTT 3.1.1 is served)")
            return False
        if packet.reserved_flag:
            self.close("CONNECT reserved flag set")
            return False
        self.client_id = "" if getattr(packet.payload, "client_id_is_random", False) else (packet.client_id or "")
        self.keepalive = min(int(packet.keep_alive or 0), MAX_KEEPALIVE)
        password = packet.password if packet.password_flag else None
        try:
            self.endpoint = self.server.make_endpoint(self, packet.username if packet.username_flag else None,
                                                      self.client_id, password or None)
            await self.endpoint.authenticate()
        except Refused as exc:
            self._refuse(exc.return_code, exc.reason)
            return False
        except Exception as exc:  # AuthRefused and friends
            reason = getattr(exc, "reason", None)
            if reason is None:
                log.exception("mqtt: authentication error for %s", self.label)
                reason = "internal error during authentication"
            self._refuse(codec.NOT_AUTHORISED, reason)
            return False
        if packet.will_flag and packet.payload.will_topic:
            self._will = (packet.payload.will_topic, packet.payload.will_message or b"")
        present = self.server.register(self, clean=bool(packet.clean_session_flag))
        self.stream.write(codec.connack(codec.ACCEPTED, present))
        log.info("mqtt: %s connected (%s)", self.label, getattr(self.endpoint, "describe", lambda: "")())
        for packet_id, (topic, payload) in list(self.state.inflight.items()):
            self.stream.write(codec.publish(topic, payload, 1, packet_id, dup=True))
        await self.stream.drain()
        await self.endpoint.on_connected()
        return not self.closed

    def _refuse(self, return_code: int, reason: str) -> None:
        log.info("mqtt: refused %s with CONNACK %d: %s", self.label, return_code, reason)
        self.stream.write(codec.connack(return_code))
        self.endpoint = None
        self.close(f"refused: {reason}")

    # ---- packets -------------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        timeout = self.keepalive * 1.5 if self.keepalive else None
        while not self.closed:
            packet = await asyncio.wait_for(codec.read_packet(self.stream, self.server.max_packet), timeout)
            if isinstance(packet, PublishPacket):
                await self._on_publish(packet)
            elif isinstance(packet, PubackPacket):
                self.state.inflight.pop(packet.variable_header.packet_id, None)
            elif isinstance(packet, SubscribePacket):
                self._on_subscribe(packet)
            elif isinstance(packet, UnsubscribePacket):
                for topic_filter in packet.payload.topics:
                    self.state.subscriptions.pop(topic_filter, None)
                self.stream.write(codec.unsuback(packet.variable_header.packet_id))
            elif isinstance(packet, PingReqPacket):
                self.stream.write(codec.pingresp())
            elif isinstance(packet, DisconnectPacket):
                self._graceful = True
                self.close("client disconnected")
                return
            else:
                self.close(f"unexpected packet {type(packet).__name__} (QoS 2 and server packets are not accepted)")
                return
            if not self.closed:
                await self.stream.drain()

    async def _on_publish(self, packet: PublishPacket) -> None:
        qos = packet.qos or 0
        topic = packet.topic_name or ""
        if qos > 1:
            self.close("QoS 2 is not supported")
            return
        kind = self.endpoint.classify_publish(topic)
        if kind is None:
            self.close(f"publish to a topic this client may not use: {topic[:200]!r}")
            return
        await self.endpoint.on_publish(kind, topic, packet.data or b"")
        if qos == 1 and not self.closed:
            self.stream.write(codec.puback(packet.packet_id))

    def _on_subscribe(self, packet: SubscribePacket) -> None:
        codes = []
        for topic_filter, qos in packet.payload.topics:
            if qos > 2:
                self.close("SUBSCRIBE with an invalid QoS")
                return
            allowed = topics.valid_filter(topic_filter) and self.endpoint.may_subscribe(topic_filter)
            if allowed and (topic_filter in self.state.subscriptions
                            or len(self.state.subscriptions) < MAX_SUBSCRIPTIONS):
                granted = min(qos, 1)
                self.state.subscriptions[topic_filter] = granted
                codes.append(granted)
            else:
                log.info("mqtt: %s may not subscribe to %r (SUBACK 0x80)", self.label, topic_filter[:200])
                codes.append(codec.SUBACK_FAILURE)
        self.stream.write(codec.suback(packet.variable_header.packet_id, codes))

    # ---- outgoing -------------------------------------------------------------------------------------------
    def deliver(self, topic: str, payload: bytes) -> bool:
        """Send to this device if one of its subscriptions matches; False (dropped) otherwise."""
        if self.closed:
            return False
        qos = max((q for f, q in self.state.subscriptions.items() if topics.filter_matches(f, topic)), default=None)
        if qos is None:
            log.debug("mqtt: %s has no subscription for %s; dropped", self.label, topic[:200])
            return False
        packet_id = None
        if qos == 1:
            packet_id = self.state.next_packet_id()
            self.state.inflight[packet_id] = (topic, payload)
            while len(self.state.inflight) > MAX_INFLIGHT:
                self.state.inflight.popitem(last=False)
        self.stream.write(codec.publish(topic, payload, qos, packet_id))
        if self.stream.write_buffer_size > MAX_WRITE_BUFFER:
            self.close("the device is not reading (write buffer full)")
            return False
        return True

    async def _publish_will(self) -> None:
        topic, payload = self._will or ("", b"")
        kind = self.endpoint.classify_publish(topic)
        if kind == "telemetry":
            try:
                await self.endpoint.on_publish(kind, topic, payload)
            except Exception:
                log.exception("mqtt: cannot publish the will of %s", self.label)
