"""The device-certificate profile, compiled once per issuing CA into TBS templates.

Per certificate only the serial, validity, subject, public key and two extension values (SKI and
revocation id) differ, so `LeafProfile` keeps an encoded TBSCertificate and an encoded extension
list for its issuer and replaces just those values; asn1crypto then re-encodes only what changed.
This costs about half of building the whole structure afresh (see bench/issuance.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import core, keys
from asn1crypto import x509 as asn1_x509

from provider.pki import asn1build

_PLACEHOLDER_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# positions of the per-certificate values in the extension list
_SKI_INDEX = 3
_REVOCATION_INDEX = 5


class LeafProfile:
    """Builds device-certificate TBS DER for one issuing CA (thread-safe: no shared mutable state)."""

    def __init__(self, *, issuer_name_der: bytes, issuer_key_identifier: bytes, hash_name: str) -> None:
        self.hash_name = hash_name
        extensions = [
            asn1build.basic_constraints(ca=False),  # critical, CA=false
            asn1build.key_usage({"digital_signature"}),  # critical
            asn1build.extended_key_usage(["client_auth"]),
            asn1build.subject_key_identifier(b"\x00" * 20),  # _SKI_INDEX: replaced per certificate
            asn1build.authority_key_identifier(issuer_key_identifier),
            asn1build.revocation_id_extension("placeholder"),  # _REVOCATION_INDEX: replaced per certificate
        ]
        self._extensions = asn1build.extensions_value(extensions).dump()
        placeholder_key = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec"}, "public_key": b"\x04"})
        self._template = asn1build.tbs_certificate(
            serial=1,
            hash_name=hash_name,
            issuer=asn1_x509.Name.load(issuer_name_der),
            subject=asn1build.common_name("placeholder"),
            not_before=_PLACEHOLDER_TIME,
            not_after=_PLACEHOLDER_TIME,
            public_key=placeholder_key,
            extensions=[],
        ).dump()

    def tbs_der(
        self,
        *,
        serial: int,
        device_id: str,
        public_key: keys.PublicKeyInfo,
        key_identifier: bytes,
        not_before: datetime,
        not_after: datetime,
        revocation_id: str,
    ) -> bytes:
        """The TBSCertificate of a device certificate, DER-encoded (ready to be signed).

        `key_identifier` is the SKI of `public_key` (RFC 5280 method 1), which the caller gets from
        `cryptography` far cheaper than re-parsing the key here.
        """
        extensions = asn1_x509.Extensions.load(self._extensions)
        extensions[_SKI_INDEX]["extn_value"] = core.OctetString(key_identifier)
        extensions[_REVOCATION_INDEX]["extn_value"] = core.UTF8String(revocation_id).dump()
        tbs = asn1_x509.TbsCertificate.load(self._template)
        tbs["serial_number"] = serial
        tbs["validity"] = asn1build.validity(not_before, not_after)
        tbs["subject"] = asn1build.common_name(device_id)
        tbs["subject_public_key_info"] = public_key
        tbs["extensions"] = asn1_x509.Extensions.load(extensions.dump())  # frozen: encoded once
        return tbs.dump()
