"""Value objects the PKI hands to the ARM/DPS layers (no key material, only ids and certificates)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from provider.common import der_to_pem


@dataclass(frozen=True)
class CaRecord:
    """One CA certificate generation of an owner (a credential's root or a policy's issuing CA)."""

    ca_id: str  # opaque row id
    owner: str  # lower-cased ARM id of the owning resource
    kind: str  # "root" | "issuing"
    key_id: str  # key store id ("" for an external root wrapped by `Pki.root_for`)
    certificate_pem: str | None  # None while a BYOR request is pending
    certificate_der: bytes | None
    subject: str  # RFC 4514
    not_before: datetime | None
    not_after: datetime | None
    thumbprint: str | None  # SHA-1 of the DER, upper-case hex
    status: str  # "active" | "pending" | "revoked"
    csr_pem: str | None  # BYOR certificate signing request
    external_chain_pem: str | None  # BYOR: the certificates above the issuing CA, as activated

    @property
    def byor(self) -> bool:
        """True for an issuing CA signed by an external root (bring your own root)."""
        return self.csr_pem is not None


@dataclass(frozen=True)
class IssuedChain:
    """A freshly issued device certificate with the chain DPS returns (leaf, issuing CA, root).

    For a BYOR policy `root_der` is the last certificate of the activated chain (normally the
    external root) and `intermediates_der` any external CAs between the issuing CA and it.
    """

    leaf_der: bytes
    issuing_der: bytes
    root_der: bytes
    serial: int
    not_before: datetime
    not_after: datetime
    intermediates_der: tuple[bytes, ...] = field(default=())

    def chain_der(self) -> list[bytes]:
        """Leaf first; a leaf a root signed directly (a GA policy under a Root CA) is leaf, root."""
        top = [] if self.root_der == self.issuing_der else [self.root_der]
        return [self.leaf_der, self.issuing_der, *self.intermediates_der, *top]

    def chain_b64(self) -> list[str]:
        """Each certificate as base64 DER, as DPS returns `issuedCertificateChain`."""
        return [base64.b64encode(der).decode("ascii") for der in self.chain_der()]

    def chain_pem(self) -> str:
        return "".join(der_to_pem(der) for der in self.chain_der())
