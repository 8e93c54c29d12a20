"""Byte streams under the MQTT session: TLS over TCP, and MQTT over WebSockets over TLS.

Both listeners terminate TLS in asyncio with a context whose SNI callback swaps in
`tls.context()`, so every handshake uses the *current* trust store (the hubs' synced CAs and DPS
enrollments, see `provider.tls`). WebSockets are handled with the sans-I/O `websockets` protocol on
the same stream: the MQTT byte stream is the concatenation of binary frame payloads, frame
boundaries carry no meaning (MQTT-over-WebSocket, MQTT 3.1.1 §6).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from amqtt.adapters import ReaderAdapter
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from provider.tls import peer_chain_der

WS_PATH = "/$iothub/websocket"


class ByteStream(ReaderAdapter):
    """What a session needs from a connection: exact reads, buffered writes, the TLS peer chain."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.closed = False

    @property
    def peer(self) -> str:
        info = self._writer.get_extra_info("peername")
        return f"{info[0]}:{info[1]}" if info else "?"

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        return self._writer.get_extra_info("ssl_object")

    def client_chain_der(self) -> list[bytes]:
        sslobj = self.ssl_object
        if sslobj is None:
            return []
        try:
            return peer_chain_der(sslobj)
        except (ValueError, AttributeError, ssl.SSLError):
            return []

    async def read(self, n: int = -1) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def write(self, data: bytes) -> None:
        if not self.closed:
            self._writer.write(data)

    async def drain(self) -> None:
        if not self.closed:
            await self._writer.drain()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()

    @property
    def write_buffer_size(self) -> int:
        transport = self._writer.transport
        return transport.get_write_buffer_size() if transport is not None else 0


class WebSocketStream(ByteStream):
    """MQTT bytes carried in WebSocket binary frames (path `/$iothub/websocket`, subprotocol `mqtt`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame: int) -> None:
        super().__init__(reader, writer)
        self._protocol = ServerProtocol(subprotocols=[Subprotocol("mqtt")], max_size=max_frame)
        self._buffer = bytearray()
        self._eof = False

    async def handshake(self, timeout: float) -> bool:
        """Read the HTTP upgrade request and answer it; False if the connection is not ours."""
        request: Request | None = None
        async with asyncio.timeout(timeout):
            while request is None:
                data = await self._reader.read(16384)
                if not data:
                    return False
                self._protocol.receive_data(data)
                for event in self._protocol.events_received():
                    if isinstance(event, Request):
                        request = event
        if request.path.split("?", 1)[0] != WS_PATH:
            response: Response = self._protocol.reject(404, f"MQTT over WebSockets is served on {WS_PATH}\n")
            self._protocol.send_response(response)
            self._flush()
            return False
        response = self._protocol.accept(request)
        self._protocol.send_response(response)
        self._flush()
        return response.status_code == 101 and self._protocol.handshake_exc is None

    def _flush(self) -> None:
        data = b"".join(self._protocol.data_to_send())
        if data and not self.closed:
            self._writer.write(data)

    async def _fill(self) -> None:
        data = await self._reader.read(65536)
        if not data:
            self._protocol.receive_eof()
            self._eof = True
        else:
            self._protocol.receive_data(data)
        for event in self._protocol.events_received():
            if isinstance(event, Frame) and event.opcode in (Opcode.BINARY, Opcode.CONT, Opcode.TEXT):
                self._buffer.extend(event.data)
        self._flush()  # pongs and close replies
        if self._protocol.close_expected() or self._protocol.parser_exc is not None:
            self._eof = True

    async def read(self, n: int = -1) -> bytes:
        while len(self._buffer) < n and not self._eof:
            await self._fill()
        chunk = bytes(self._buffer[:n])
        del self._buffer[:n]
        return chunk

    def write(self, data: bytes) -> None:
        if not self.closed:
            self._protocol.send_binary(data)
            self._flush()

    def close(self) -> None:
        if not self.closed:
            try:
                self._protocol.send_close()
                self._flush()
            except Exception:  # already closing: the transport close below is what matters
                pass
        super().close()


def describe(stream: Any) -> str:
    return f"{'ws' if isinstance(stream, WebSocketStream) else 'tcp'} {stream.peer}"
