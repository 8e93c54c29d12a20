"""The emulated ADR PKI: CA lifecycle, BYOR activation and device certificate issuance.

Certificates are built with asn1crypto and signed through a `provider.keystore.KeyStore`, so the
same code runs on software keys and on a PKCS#11 token.
"""

from provider.pki.asn1build import EMULATOR_ARC, REVOCATION_ID_OID
from provider.pki.authority import Pki
from provider.pki.errors import PkiError
from provider.pki.records import CaRecord, IssuedChain

__all__ = ["EMULATOR_ARC", "REVOCATION_ID_OID", "CaRecord", "IssuedChain", "Pki", "PkiError"]
