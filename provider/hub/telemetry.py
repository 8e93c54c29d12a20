"""Device-to-cloud telemetry as the emulator keeps it: a counter and the last messages per device.

Kept in memory on purpose: telemetry is the hot path (hundreds of messages a second from the MQTT
listener thread) and tests only need "how many arrived" and "what did the last ones look like".
Writing every message to SQLite would serialise the listener behind the HTTP threads' transactions.
Bounded: `MAX_MESSAGES` per device and `MAX_DEVICES` devices (least recently active evicted).
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provider.common import utc_z

MAX_MESSAGES = 100
MAX_DEVICES = 20000
SYSTEM_PROPERTY_NAMES = {"$.mid": "messageId", "$.cid": "correlationId", "$.uid": "userId",
                         "$.ct": "contentType", "$.ce": "contentEncoding", "$.ifid": "interfaceId",
                         "$.exp": "expiryTimeUtc", "$.on": "outputName"}


@dataclass
class _DeviceLog:
    count: int = 0
    bytes: int = 0
    last: deque = field(default_factory=lambda: deque(maxlen=MAX_MESSAGES))


def _body(payload: bytes) -> dict[str, Any]:
    try:
        return {"body": payload.decode("utf-8"), "bodyEncoding": "utf-8"}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(payload).decode("ascii"), "bodyEncoding": "base64"}


class Telemetry:
    """Thread-safe per-(hub, device) counters and ring buffers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: OrderedDict[tuple[str, str], _DeviceLog] = OrderedDict()

    def record(self, hub_name: str, device_id: str, properties: dict[str, str], payload: bytes,
               at: datetime) -> int:
        """Count one message; returns the device's new count."""
        system = {SYSTEM_PROPERTY_NAMES[k]: v for k, v in properties.items() if k in SYSTEM_PROPERTY_NAMES}
        app = {k: v for k, v in properties.items() if not k.startswith("$.")}
        key = (hub_name.lower(), device_id)
        with self._lock:
            log = self._logs.get(key)
            if log is None:
                log = self._logs[key] = _DeviceLog()
                while len(self._logs) > MAX_DEVICES:
                    self._logs.popitem(last=False)
            else:
                self._logs.move_to_end(key)
            log.count += 1
            log.bytes += len(payload)
            log.last.append({"sequenceNumber": log.count, "enqueuedTime": utc_z(at),
                             "systemProperties": system, "properties": app, "size": len(payload),
                             **_body(payload)})
            return log.count

    def view(self, hub_name: str, device_id: str, last: int = MAX_MESSAGES) -> dict[str, Any]:
        with self._lock:
            log = self._logs.get((hub_name.lower(), device_id)) or _DeviceLog()
            messages = list(log.last)[-last:] if last > 0 else []
            return {"deviceId": device_id, "count": log.count, "bytes": log.bytes, "messages": messages}

    def clear(self, hub_name: str | None = None, device_id: str | None = None) -> None:
        with self._lock:
            if hub_name is None:
                self._logs.clear()
                return
            for key in [k for k in self._logs if k[0] == hub_name.lower() and device_id in (None, k[1])]:
                del self._logs[key]
