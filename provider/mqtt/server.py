"""The MQTT listener: an asyncio loop in its own thread serving TLS and WebSocket connections.

Sockets are bound synchronously at start-up (so `--mqtt-port 0` resolves and a taken port fails
fast); the loop thread is started by `provider.server.Servers`. Other threads (Flask handlers, ARM
listeners) talk to the loop only through the thread-safe methods at the end: drop or re-check a
device's connections, push a desired-property patch, invoke a direct method, list connections.

Live connections are re-checked when something that authorised them changes: the hub device is
updated or deleted (service API), the ADR device is revoked or disabled (`device_revoked`), or the
hub's trusted set changes (a sync after `revokeIssuer`: a once-a-second fingerprint sweep, plus the
`hub_certificates_changed` hook). The same sweep drops connections whose certificate or SAS token
expired on the emulator's (injectable) clock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from provider.common import utc_z
from provider.hub import auth as hub_auth
from provider.mqtt import codec, topics
from provider.mqtt.dps_endpoint import DpsDevice
from provider.mqtt.hub_endpoint import HubDevice
from provider.mqtt.session import Connection, Refused, SessionState
from provider.mqtt.transport import ByteStream, WebSocketStream
from provider.tls import X509_V_FLAG_NO_CHECK_TIME, ServerTls

if TYPE_CHECKING:
    from provider.state import Emulator

log = logging.getLogger("adr_emulator.mqtt")
T = TypeVar("T")

MAX_PACKET = 300 * 1024  # IoT Hub messages are at most 256 KB; headers and property bags on top
MAX_CONNECTIONS = 5000
MAX_STORED_SESSIONS = 20000
HANDSHAKE_TIMEOUT = 10.0
SWEEP_SECONDS = 1.0
WORKERS = 4


class MethodResponses:
    """Pending direct-method calls waiting for `$iothub/methods/res/{status}/?$rid=`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], concurrent.futures.Future] = {}

    def expect(self, hub_id: str, device_id: str, rid: str) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self._pending[(hub_id, device_id, rid)] = future
        return future

    def forget(self, hub_id: str, device_id: str, rid: str) -> None:
        with self._lock:
            self._pending.pop((hub_id, device_id, rid), None)

    def resolve(self, hub_id: str, device_id: str, rid: str, status: int, payload: bytes) -> None:
        with self._lock:
            future = self._pending.pop((hub_id, device_id, rid), None)
        if future is not None and not future.done():
            future.set_result((status, payload))


class MqttServer:
    """Owns the sockets, the loop, the live connections and the persistent sessions."""

    def __init__(self, emu: Emulator, tls: ServerTls) -> None:
        self.emu = emu
        self.tls = tls
        self.max_packet = MAX_PACKET
        self.loop: asyncio.AbstractEventLoop | None = None
        self.executor = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="mqtt-work")
        self.method_responses = MethodResponses()
        self._sockets: list[tuple[socket.socket, bool]] = []  # (socket, is_websocket)
        self._connections: set[Connection] = set()
        self._by_key: dict[tuple, Connection] = {}
        self._sessions: OrderedDict[tuple, SessionState] = OrderedDict()
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()

    # ---- start-up (caller's thread) ---------------------------------------------------------------------
    def bind(self, host: str, port: int, websocket: bool = False) -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(512)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sockets.append((sock, websocket))
        return sock.getsockname()[1]

    def serve_forever(self) -> None:
        """Thread target: run the loop until `stop`."""
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        servers = []
        context = self._handshake_context()
        for sock, websocket in self._sockets:
            handler = self._accept_ws if websocket else self._accept_tcp
            servers.append(await asyncio.start_server(handler, sock=sock, limit=2 * MAX_PACKET, ssl=context,
                                                      ssl_handshake_timeout=HANDSHAKE_TIMEOUT))
        sweeper = asyncio.create_task(self._sweep_forever())
        self._ready.set()
        await self._stopped.wait()
        sweeper.cancel()
        for server in servers:
            server.close()
        for conn in list(self._connections):
            conn.close("listener stopping")
        await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.loop is not None and self._stopped is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stopped.set)
        self.executor.shutdown(wait=False, cancel_futures=True)

    # ---- accepting ---------------------------------------------------------------------------------------
    def _handshake_context(self) -> ssl.SSLContext:
        """A context whose SNI callback swaps in `tls.context()`, so each handshake sees the current trust.

        The callback runs for every ClientHello, with or without SNI. Upgrading a plain stream with
        `start_tls` instead would lose a ClientHello that the stream reader had already buffered.
        """
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.minimum_version = ssl.TLSVersion.TLSv1_2
        base.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        base.verify_mode = ssl.CERT_OPTIONAL
        # verify flags belong to the connection (copied from this context when it is created), not to
        # the context swapped in later, so they must match provider.tls here
        # (clear STRICT first: `~ssl.VERIFY_X509_STRICT` keeps only named flags and would drop NO_CHECK_TIME)
        base.verify_flags &= ~ssl.VERIFY_X509_STRICT
        base.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME
        base.load_verify_locations(cafile=self.tls.cert_file)
        # no TLS 1.3 session tickets: MQTT clients do not resume, and the ticket flight sent after the
        # handshake makes the CONNACK wait for a delayed ACK (~40 ms per connect on Linux)
        base.num_tickets = 0

        def use_current(ssl_object: Any, _server_name: str | None, _context: ssl.SSLContext) -> None:
            try:
                ssl_object.context = self.tls.context()
            except Exception:  # keep the base context: client certificates then fail to verify
                log.exception("mqtt: cannot build the TLS context")

        base.sni_callback = use_current
        return base

    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        if len(self._connections) >= MAX_CONNECTIONS:
            log.warning("mqtt: connection limit (%d) reached; refusing %s", MAX_CONNECTIONS,
                        writer.get_extra_info("peername"))
            writer.close()
            return False
        return True

    async def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._admit(writer):
            await self._run(ByteStream(reader, writer))

    async def _accept_ws(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._admit(writer):
            return
        stream = WebSocketStream(reader, writer, MAX_PACKET + 1024)
        try:
            ok = await stream.handshake(HANDSHAKE_TIMEOUT)
        except Exception as exc:
            log.info("mqtt-ws: upgrade failed: %s", type(exc).__name__)
            ok = False
        if not ok:
            stream.close()
            return
        await self._run(stream)

    async def _run(self, stream: ByteStream) -> None:
        conn = Connection(self, stream)
        self._connections.add(conn)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)

    # ---- used by connections (loop thread) ------------------------------------------------------------
    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run registry/PKI work on a worker thread so the loop keeps serving other devices."""
        assert self.loop is not None
        return await self.loop.run_in_executor(self.executor, fn, *args)

    def make_endpoint(self, conn: Connection, username: str | None, client_id: str, password: str | None) -> Any:
        user = topics.parse_username(username)
        if isinstance(user, topics.DpsUser):
            return DpsDevice(self, conn, user, client_id, password)
        if isinstance(user, topics.HubUser):
            return HubDevice(self, conn, user, client_id, password)
        raise Refused(codec.NOT_AUTHORISED, f"user name {str(username)[:200]!r} is neither a DPS nor an IoT Hub "
                                             "user name")

    def register(self, conn: Connection, clean: bool) -> bool:
        """Make `conn` the live connection for its key (taking over an older one); True if a session resumed."""
        key = conn.endpoint.key
        old = self._by_key.get(key)
        if old is not None and old is not conn:
            old.close("session taken over by a new connection with the same client id")
        self._by_key[key] = conn
        if not conn.endpoint.persistent or clean:
            self._sessions.pop(key, None)
            return False
        state = self._sessions.get(key)
        present = state is not None
        if state is None:
            state = SessionState()
            self._sessions[key] = state
            while len(self._sessions) > MAX_STORED_SESSIONS:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(key)
        conn.state = state
        return present

    def unregister(self, conn: Connection) -> None:
        key = getattr(conn.endpoint, "key", None)
        if key is not None and self._by_key.get(key) is conn:
            del self._by_key[key]

    def current(self, key: tuple) -> Connection | None:
        return self._by_key.get(key)

    # ---- re-checks ------------------------------------------------------------------------------------------
    def _hub_connections(self, hub_id: str | None = None, device_id: str | None = None) -> list[Connection]:
        out = []
        for conn in self._connections:
            auth = getattr(conn.endpoint, "auth", None)
            if conn.closed or auth is None:
                continue
            if hub_id is not None and auth.hub_id != hub_id.lower():
                continue
            if device_id is not None and auth.device_id.lower() != device_id.lower():
                continue
            out.append(conn)
        return out

    async def _recheck(self, conns: list[Connection]) -> int:
        dropped = 0
        for conn in conns:
            reason = await self.run_blocking(conn.endpoint.recheck)
            if reason is not None and not conn.closed:
                conn.close(f"no longer authorised: {reason}")
                dropped += 1
        return dropped

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self._sweep()
            except Exception:
                log.exception("mqtt: sweep failed")

    async def _sweep(self) -> None:
        conns = self._hub_connections()
        if not conns:
            return
        now = self.emu.now()
        by_hub: dict[str, list[Connection]] = {}
        for conn in conns:
            auth = conn.endpoint.auth
            if auth.not_after is not None and now > auth.not_after:
                what = "certificate" if auth.method == "x509" else "SAS token"
                conn.close(f"the {what} expired at {auth.not_after:%Y-%m-%dT%H:%M:%SZ}")
                continue
            if auth.method == "x509" and auth.trust_fingerprint is not None:
                by_hub.setdefault(auth.hub_id, []).append(conn)
        for hub_id, conns in by_hub.items():
            fingerprint = await self.run_blocking(self._fingerprint, hub_id)
            changed = [c for c in conns if c.endpoint.auth.trust_fingerprint != fingerprint]
            if changed:
                await self._recheck(changed)

    def _fingerprint(self, hub_id: str) -> str | None:
        hub = self.emu.repo.get(hub_id)
        return hub_auth.trust_fingerprint(self.emu, hub) if hub is not None else None

    # ---- thread-safe API (any thread) ---------------------------------------------------------------------
    def _call(self, coro_fn: Callable[[], Any], wait: float | None) -> Any:
        if self.loop is None or not self._ready.is_set() or self.loop.is_closed():
            return None
        future = asyncio.run_coroutine_threadsafe(coro_fn(), self.loop)
        if wait is None:
            return None
        try:
            return future.result(wait)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            return None

    def recheck_devices(self, hub_id: str | None = None, device_id: str | None = None,
                        wait: float | None = None) -> int | None:
        """Re-authorise live hub connections (of one hub / one device); drops those now refused."""
        async def run() -> int:
            return await self._recheck(self._hub_connections(hub_id, device_id))

        return self._call(run, wait)

    def drop_devices(self, hub_id: str, device_id: str | None, reason: str, wait: float | None = None) -> int | None:
        async def run() -> int:
            conns = self._hub_connections(hub_id, device_id)
            for conn in conns:
                conn.close(reason)
            return len(conns)

        return self._call(run, wait)

    def drop_all(self, reason: str, wait: float | None = None) -> None:
        async def run() -> None:
            for conn in list(self._connections):
                conn.close(reason)
            self._sessions.clear()

        self._call(run, wait)

    def push(self, hub_id: str, device_id: str, topic: str, payload: bytes, wait: float | None = 2.0) -> bool:
        """Deliver to a connected device if it subscribed; False if it is not connected or not subscribed."""
        async def run() -> bool:
            return any(conn.deliver(topic, payload) for conn in self._hub_connections(hub_id, device_id))

        return bool(self._call(run, wait))

    def connections(self, hub_id: str | None = None) -> list[dict[str, Any]]:
        async def run() -> list[dict[str, Any]]:
            out = []
            for conn in self._hub_connections(hub_id):
                auth = conn.endpoint.auth
                out.append({"deviceId": auth.device_id, "hub": auth.hub_name, "authentication": auth.method,
                            "adrCertificate": auth.adr_issued, "peer": conn.stream.peer,
                            "expires": utc_z(auth.not_after) if auth.not_after else None,
                            "subscriptions": sorted(conn.state.subscriptions)})
            return out

        return self._call(run, 5.0) or []
