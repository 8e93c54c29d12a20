"""Server-side TLS contexts that ask for (but do not require) a client certificate.

Python's `ssl` verifies a presented client certificate during the handshake and has no
verify callback, so the trust store must hold every CA a device chain may end at: namespace
roots and issuing CAs, enrolled signing CAs and enrolled self-signed device certificates. Data
planes contribute those through `add_trust_source`; the context is rebuilt when the set changes.
The policy decisions (which enrollment, which hub, CN, revocation, expiry) are made afterwards
in our own code on the presented chain, with `cryptography.x509.verification`. Certificate times
are not checked by OpenSSL (X509_V_FLAG_NO_CHECK_TIME) so that an expired device certificate
is refused by that code with a logged reason rather than by an opaque handshake alert.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Callable

X509_V_FLAG_NO_CHECK_TIME = 0x200000

TrustSource = Callable[[], list[str]]  # returns PEM certificates


class ServerTls:
    """Builds and caches the server `SSLContext` for the current trust set.

    Every handshake asks for the context, so the trust sources (database reads) are consulted only
    when `generation()` (the store's commit counter) has moved since they were last read.
    """

    def __init__(self, cert_file: str, key_file: str, generation: Callable[[], int] | None = None) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self._generation = generation
        self._sources: list[TrustSource] = []
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._read_at: int | None = None  # generation the sources were last read at
        self._context: ssl.SSLContext | None = None

    def add_trust_source(self, source: TrustSource) -> None:
        with self._lock:
            self._sources.append(source)
            self._read_at = None

    def _trusted(self) -> list[str]:
        pems: list[str] = []
        for source in self._sources:
            try:
                pems.extend(source())
            except Exception:  # a failing source must not take TLS down
                continue
        return sorted(set(pems))

    def context(self) -> ssl.SSLContext:
        """The context for the next handshake (rebuilt only when the trusted set changed)."""
        generation = self._generation() if self._generation is not None else None
        with self._lock:
            if self._context is not None and generation is not None and generation == self._read_at:
                return self._context
        pems = self._trusted()
        fingerprint = hashlib.sha256("".join(pems).encode()).hexdigest()
        with self._lock:
            if self._context is None or fingerprint != self._fingerprint:
                self._context = self._build(pems)
                self._fingerprint = fingerprint
            self._read_at = generation
            return self._context

    def _build(self, pems: list[str]) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.num_tickets = 0  # TLS 1.3 session tickets delay the first response by a delayed-ACK round
        ctx.load_cert_chain(self.cert_file, self.key_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        # clear STRICT first: `~ssl.VERIFY_X509_STRICT` keeps only named flags and would drop NO_CHECK_TIME
        ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME
        if pems:
            ctx.load_verify_locations(cadata="\n".join(pems))
        else:
            # An empty store still needs a CA list; trust only our own server chain.
            ctx.load_verify_locations(cafile=self.cert_file)
        return ctx


def peer_chain_der(sock: ssl.SSLSocket | ssl.SSLObject) -> list[bytes]:
    """The certificates the client presented, leaf first (empty when it sent none)."""
    sslobj = getattr(sock, "_sslobj", sock)
    getter = getattr(sock, "get_unverified_chain", None) or getattr(sslobj, "get_unverified_chain", None)
    if getter is not None:
        chain = [c for c in getter() or [] if c is not None]  # 3.11 answers [None] when no cert was sent
        if chain:
            return [c.public_bytes(ssl._ssl.ENCODING_DER) if hasattr(c, "public_bytes") else bytes(c)
                    for c in chain]
    leaf = sock.getpeercert(binary_form=True)
    return [leaf] if leaf else []
