"""MQTT 3.1.1 framing on amqtt's packet codec (no amqtt broker code is used).

Why amqtt's codec: it is maintained, speaks 3.1.1 (what the Azure IoT SDKs use), and its packet
classes decode from any `ReaderAdapter`, so we can bound a packet's size *before* reading its body:
we decode the fixed header from the connection, refuse anything larger than the limit, read exactly
`remaining_length` bytes, then let the packet class decode that buffer. A malformed packet raises
`MalformedPacket`, which the session turns into a disconnect rather than a crash.
"""

from __future__ import annotations

from typing import Any

from amqtt.adapters import BufferReader, ReaderAdapter
from amqtt.mqtt import packet_class
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.packet import MQTTFixedHeader
from amqtt.mqtt.pingresp import PingRespPacket
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.suback import SubackPacket
from amqtt.mqtt.unsuback import UnsubackPacket

# CONNACK return codes (MQTT 3.1.1 §3.2.2.3)
ACCEPTED = 0
BAD_PROTOCOL_VERSION = 1
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
BAD_CREDENTIALS = 4
NOT_AUTHORISED = 5
SUBACK_FAILURE = 0x80


class MalformedPacket(Exception):
    """The peer sent something that is not a valid MQTT 3.1.1 packet (or one too large)."""


class ConnectionClosed(Exception):
    """The peer closed the connection (clean EOF between packets)."""


async def read_packet(reader: ReaderAdapter, max_size: int) -> Any:
    """Read one packet; `ConnectionClosed` at EOF, `MalformedPacket` on bad or oversized input."""
    try:
        header = await MQTTFixedHeader.from_stream(reader)
    except Exception as exc:  # amqtt raises MQTTError for a bad remaining length
        raise MalformedPacket(f"bad fixed header: {exc}") from None
    if header is None:
        raise ConnectionClosed()
    if header.remaining_length > max_size:
        raise MalformedPacket(f"packet of {header.remaining_length} bytes exceeds the {max_size} byte limit")
    try:
        body = await reader.read(header.remaining_length) if header.remaining_length else b""
    except Exception:
        raise ConnectionClosed() from None
    if len(body) != header.remaining_length:
        raise ConnectionClosed()
    try:
        cls = packet_class(header)
        return await cls.from_stream(BufferReader(body), fixed_header=header)
    except Exception as exc:
        raise MalformedPacket(f"cannot decode packet type {header.packet_type}: {type(exc).__name__}") from None


def connack(return_code: int, session_present: bool = False) -> bytes:
    return ConnackPacket.build(1 if session_present else 0, return_code).to_bytes()


def puback(packet_id: int) -> bytes:
    return PubackPacket.build(packet_id).to_bytes()


def suback(packet_id: int, return_codes: list[int]) -> bytes:
    return SubackPacket.build(packet_id, return_codes).to_bytes()


def unsuback(packet_id: int) -> bytes:
    return UnsubackPacket.build(packet_id).to_bytes()


def pingresp() -> bytes:
    return PingRespPacket.build().to_bytes()


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int | None = None, dup: bool = False) -> bytes:
    return PublishPacket.build(topic, payload, packet_id if qos else None, dup, qos, False).to_bytes()
