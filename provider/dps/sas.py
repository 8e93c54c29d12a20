"""SharedAccessSignature tokens as DPS and IoT Hub use them: parse, verify, generate.

    SharedAccessSignature sr={url-encoded resource}&sig={url-encoded base64 HMAC}&se={expiry}[&skn={key name}]

signature = base64(HMAC-SHA256(base64decode(key), url_encode(resource) + "\\n" + se)). Field order
is free. Clients disagree on the percent-encoding of `sr` (the docs lower-case it, Python's
`quote` upper-cases it), so verification accepts a signature over the `sr` exactly as sent and
over its canonical upper- and lower-case encodings. Device tokens may omit `skn` (the Python SDK
does); service tokens name their policy in `skn`. Nothing here logs a key or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

PREFIX = "SharedAccessSignature "
MAX_TOKEN_LENGTH = 4096


class SasError(Exception):
    """A token that does not authorise the request; `expired` tells the expiry case apart."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.expired = expired


@dataclass(frozen=True)
class SasToken:
    resource_raw: str  # `sr` exactly as sent (still percent-encoded)
    resource: str  # `sr` decoded
    signature: bytes
    expiry: int
    key_name: str | None


def parse_sas(token: str) -> SasToken:
    """Split a token into its fields; SasError if it is not a well-formed SAS token."""
    if not isinstance(token, str):
        raise SasError("the authorization value is not a SharedAccessSignature token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise SasError(f"the SAS token is longer than {MAX_TOKEN_LENGTH} characters")
    text = token.strip()
    if text[: len(PREFIX)].lower() != PREFIX.lower():
        raise SasError("the authorization value must start with 'SharedAccessSignature '")
    fields: dict[str, str] = {}
    for part in text[len(PREFIX):].strip().split("&"):
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise SasError(f"the SAS token has a malformed field '{name[:20]}'")
        fields[name.strip().lower()] = value.strip()
    missing = [name for name in ("sr", "sig", "se") if not fields.get(name)]
    if missing:
        raise SasError(f"the SAS token lacks {', '.join(missing)}")
    if not re.fullmatch(r"\d{1,12}", fields["se"]):
        raise SasError("the SAS token's expiry (se) is not a number of seconds since the epoch")
    try:
        signature = base64.b64decode(unquote(fields["sig"]), validate=True)
    except (binascii.Error, ValueError):
        raise SasError("the SAS token's signature (sig) is not base64") from None
    return SasToken(resource_raw=fields["sr"], resource=unquote(fields["sr"]), signature=signature,
                    expiry=int(fields["se"]), key_name=unquote(fields["skn"]) if fields.get("skn") else None)


def _sign(key: bytes, encoded_resource: str, expiry: int) -> bytes:
    return hmac.new(key, f"{encoded_resource}\n{expiry}".encode(), hashlib.sha256).digest()


def _decode_key(key_b64: str) -> bytes | None:
    try:
        return base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


def _encodings(token: SasToken) -> list[str]:
    canonical = quote(token.resource, safe="")
    lowered = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), canonical)
    return list(dict.fromkeys([token.resource_raw, canonical, lowered]))


def _covers(resource: str, expected_prefix: str) -> bool:
    """`resource` is the expected one, or lies under it (by whole path segment), case-insensitively."""
    got = resource.strip().rstrip("/").lower()
    want = expected_prefix.strip().rstrip("/").lower()
    for scheme in ("https://", "http://", "amqps://", "mqtts://"):
        got = got.removeprefix(scheme)
    return got == want or got.startswith(want + "/")


def verify_sas(token: str | SasToken, keys: Mapping[str | None, Sequence[str]], expected_resource_prefix: str,
               now: float | None = None) -> str | None:
    """Check signature, expiry and resource; return the name of the key set that signed it.

    `keys` maps a key name to its candidate base64 keys (primary, secondary). A token with `skn`
    is checked only against the keys of that name (case-insensitive); one without `skn` against
    every key. The token's `sr` must be `expected_resource_prefix`, optionally followed by more
    path (a token for `host` also covers `host/enrollments`); scheme and case are ignored.
    """
    parsed = token if isinstance(token, SasToken) else parse_sas(token)
    moment = time.time() if now is None else now
    if parsed.expiry <= moment:
        raise SasError("the SAS token has expired", expired=True)
    if not _covers(parsed.resource, expected_resource_prefix):
        raise SasError(f"the SAS token is for resource '{parsed.resource[:200]}', not '{expected_resource_prefix}'")
    if parsed.key_name is not None:
        candidates = [(name, values) for name, values in keys.items()
                      if name is not None and name.lower() == parsed.key_name.lower()]
        if not candidates:
            raise SasError(f"the SAS token names an unknown key '{parsed.key_name[:64]}'")
    else:
        candidates = list(keys.items())
    encodings = _encodings(parsed)
    for name, values in candidates:
        for value in values:
            key = _decode_key(value) if value else None
            if key is None:
                continue
            for encoded in encodings:
                if hmac.compare_digest(_sign(key, encoded, parsed.expiry), parsed.signature):
                    return name
    raise SasError("the SAS token's signature does not match")


def generate_sas(resource_uri: str, key_b64: str, key_name: str | None = None, expiry: int | None = None) -> str:
    """A token for `resource_uri` signed with `key_b64`, valid until `expiry` (epoch s; default now + 1 h)."""
    key = _decode_key(key_b64)
    if key is None:
        raise ValueError("the key must be base64")
    return signed_sas(resource_uri, lambda data: hmac.new(key, data, hashlib.sha256).digest(), key_name, expiry)


def signed_sas(resource_uri: str, sign: Callable[[bytes], bytes], key_name: str | None = None,
               expiry: int | None = None) -> str:
    """A token whose HMAC-SHA256 over `{sr}\n{se}` comes from `sign`: for a key the caller cannot read
    (a TPM's imported key)."""
    se = int(expiry if expiry is not None else time.time() + 3600)
    encoded = quote(resource_uri, safe="")
    sig = quote(base64.b64encode(sign(f"{encoded}\n{se}".encode())).decode("ascii"), safe="")
    token = f"{PREFIX}sr={encoded}&sig={sig}&se={se}"
    return token + (f"&skn={quote(key_name, safe='')}" if key_name else "")


def derive_device_key(group_key_b64: str, registration_id: str) -> str:
    """An enrollment group member's key: base64(HMAC-SHA256(base64decode(group key), registration id))."""
    key = _decode_key(group_key_b64)
    if key is None:
        raise ValueError("the group key must be base64")
    return base64.b64encode(hmac.new(key, registration_id.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")
