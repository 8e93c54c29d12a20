"""Serving: cheroot WSGI servers for HTTP and HTTPS (and the MQTT listener when present).

cheroot (CherryPy's production WSGI server) is used because its TLS adapter runs on Python's
`ssl` module, which lets us request optional client certificates and read the presented chain;
we hand that chain to the WSGI environ as `SSL_CLIENT_CERT_CHAIN_DER` for X.509 attestation.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from provider.tls import ServerTls, peer_chain_der

log = logging.getLogger("adr_emulator")


class ClientCertSSLAdapter(BuiltinSSLAdapter):
    """cheroot's stdlib TLS adapter with a per-handshake context and the client chain in the environ."""

    def __init__(self, tls: ServerTls) -> None:
        super().__init__(tls.cert_file, tls.key_file)
        self._tls = tls

    @property
    def context(self) -> ssl.SSLContext:  # type: ignore[override]
        tls = getattr(self, "_tls", None)
        return tls.context() if tls is not None else self._context

    @context.setter
    def context(self, value: ssl.SSLContext) -> None:
        self._context = value

    def get_environ(self, sock: ssl.SSLSocket) -> dict[str, Any]:  # type: ignore[override]
        environ = super().get_environ(sock)
        environ["SSL_CLIENT_CERT_CHAIN_DER"] = peer_chain_der(sock)
        return environ


_LEADING_SLASHES = re.compile(rb"^([A-Za-z]+ )//+")


class _CollapsingLines:
    """A read-file proxy whose request lines have their leading `//` collapsed to `/`."""

    def __init__(self, rfile: Any) -> None:
        self._rfile = rfile

    def readline(self, *args: Any) -> bytes:
        return _LEADING_SLASHES.sub(rb"\1/", self._rfile.readline(*args), count=1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rfile, name)


class LenientRequest(cheroot_server.HTTPRequest):
    """cheroot reads `GET //metadata/endpoints` as an absolute URI (authority `metadata`) and
    refuses it before the app runs. ARM collapses empty segments, and az CLI sends such paths
    when the cloud's endpoint ends in `/`, so the request line is collapsed as it is read."""

    def read_request_line(self) -> bool:
        rfile = self.rfile
        self.rfile = _CollapsingLines(rfile)
        try:
            return super().read_request_line()
        finally:
            self.rfile = rfile


class LenientConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = LenientRequest


class ListenError(Exception):
    """A listener could not bind: start-up ends with one line naming the address and the flag."""

    def __init__(self, flag: str, host: str, port: int, cause: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({flag}): {cause.strerror or cause}")
        self.flag = flag


def _bind_cause(host: str, port: int, fallback: OSError) -> OSError:
    """cheroot folds every address it tried into one message without an errno; bind once more to get it."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return fallback


class Servers:
    """Starts every listener in its own thread and stops them all together."""

    def __init__(self) -> None:
        self._servers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._stoppers: list[Callable[[], None]] = []

    def add_wsgi(self, app: Callable[..., Any], host: str, port: int, flag: str, tls: ServerTls | None = None,
                 threads: int = 16) -> int:
        """Bind now (so port 0 resolves and errors surface at start-up), serve in a thread."""
        server = wsgi.Server((host, port), app, numthreads=threads, server_name="adr-emulator",
                             shutdown_timeout=1, timeout=30)
        server.ConnectionClass = LenientConnection
        if tls is not None:
            server.ssl_adapter = ClientCertSSLAdapter(tls)
        try:
            server.prepare()
        except OSError as exc:
            raise ListenError(flag, host, port, _bind_cause(host, port, exc)) from None
        bound = server.bind_addr[1]
        thread = threading.Thread(target=server.serve, name=f"wsgi-{bound}", daemon=True)
        self._servers.append(server)
        self._threads.append(thread)
        self._stoppers.append(server.stop)
        return bound

    def add_service(self, start: Callable[[], None], stop: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=start, name=name, daemon=True)
        self._threads.append(thread)
        self._stoppers.append(stop)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception:  # stopping must go on for the others
                log.exception("error while stopping a listener")

    def wait(self) -> None:
        """Block until SIGINT/SIGTERM, then stop cleanly."""
        done = threading.Event()

        def _signal(signum: int, _frame: object) -> None:
            log.info("received signal %s, stopping", signum)
            done.set()

        signal.signal(signal.SIGINT, _signal)
        signal.signal(signal.SIGTERM, _signal)
        try:
            while not done.wait(0.5):
                pass
        finally:
            self.stop()
            sys.stdout.flush()
