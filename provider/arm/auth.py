"""Bearer tokens: the emulated Entra ID token endpoints and ARM's token check.

By default any bearer token (or none) is accepted. With `--require-auth`, ARM requests need a
well-formed JWT whose `exp` lies in the future, answered otherwise with 401 as ARM does. The token
endpoints (`/{tenant}/oauth2/v2.0/token`, the OpenID configuration and the managed-identity
endpoint `/msi/token`) issue such JWTs, signed HS256 with a per-data-directory secret, so
`az login` and `DefaultAzureCredential`-style flows work offline. Signatures are not checked on
the way in: real Azure tokens are RS256 from Entra and the emulator accepts any well-formed one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, request

from provider.arm.errors import ArmError, authentication_failed, invalid_authentication_token

bp = Blueprint("auth", __name__)
TOKEN_LIFETIME = 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: bytes, tenant: str, audience: str, subject: str, lifetime: int = TOKEN_LIFETIME) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "iat": now, "nbf": now,
              "exp": now + lifetime, "tid": tenant, "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, subject)),
              "sub": subject, "appid": subject, "idtyp": "app", "ver": "1.0"}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def decode_claims(token: str) -> dict[str, Any]:
    """Parse a JWT's claims without checking its signature; ValueError when malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot-separated parts")
    header = json.loads(_b64url_decode(parts[0]))
    claims = json.loads(_b64url_decode(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("JWT header and claims must be JSON objects")
    return claims


def caller_of(authorization: str | None) -> tuple[str, str]:
    """Who a request comes from, for `systemData` (`createdBy`, `createdByType`)."""
    if authorization and authorization.lower().startswith("bearer "):
        try:
            claims = decode_claims(authorization[7:].strip())
        except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
            return "user@adr-emulator.local", "User"
        for claim, kind in (("upn", "User"), ("unique_name", "User"), ("appid", "Application"),
                            ("oid", "Application")):
            if claims.get(claim):
                return str(claims[claim]), kind
    return "user@adr-emulator.local", "User"


def require_bearer(authorization: str | None) -> None:
    """ARM's answer to a missing, malformed or expired bearer token (only with --require-auth)."""
    if not authorization:
        raise authentication_failed(
            "Authentication failed. The 'Authorization' header is missing.",
            headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/", '
                                                    'error="invalid_token"'})
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise authentication_failed(
            "Authentication failed. The 'Authorization' header is provided in an invalid format.")
    try:
        claims = decode_claims(token.strip())
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        raise invalid_authentication_token("The access token is invalid.") from None
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise invalid_authentication_token("The access token has no expiry ('exp') claim.")
    if exp <= time.time():
        raise ArmError(401, "ExpiredAuthenticationToken",
                       "The access token expiry UTC time is earlier than current UTC time.")


def _secret() -> bytes:
    emu = current_app.config["EMULATOR"]
    secret = emu.store.get_setting("token_secret")
    if secret is None:
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        emu.store.set_setting("token_secret", secret)
    return secret.encode()


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@bp.route("/<tenant>/v2.0/.well-known/openid-configuration", methods=["GET"])
@bp.route("/<tenant>/.well-known/openid-configuration", methods=["GET"])
def openid_configuration(tenant: str) -> Response:
    base = request.host_url.rstrip("/")
    return _json({
        "issuer": f"{base}/{tenant}/v2.0",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "NA",
    })


@bp.route("/<tenant>/oauth2/v2.0/token", methods=["POST"])
@bp.route("/<tenant>/oauth2/token", methods=["POST"])
def token(tenant: str) -> Response:
    emu = current_app.config["EMULATOR"]
    form = request.form
    scope = form.get("scope") or form.get("resource") or "https://management.azure.com/.default"
    audience = scope.split(" ")[0].removesuffix("/.default").removesuffix("/")
    subject = form.get("client_id") or "adr-emulator-client"
    tenant_id = tenant if tenant not in ("common", "organizations") else emu.config.tenant_id
    access = issue_token(_secret(), tenant_id, audience, subject)
    return _json({"token_type": "Bearer", "access_token": access, "expires_in": TOKEN_LIFETIME,
                  "ext_expires_in": TOKEN_LIFETIME, "scope": scope})


@bp.route("/msi/token", methods=["GET", "POST"])
def managed_identity_token() -> Response:
    emu = current_app.config["EMULATOR"]
    resource = request.args.get("resource") or "https://management.azure.com/"
    access = issue_token(_secret(), emu.config.tenant_id, resource.rstrip("/"), "adr-emulator-managed-identity")
    return _json({"access_token": access, "expires_on": str(int(time.time()) + TOKEN_LIFETIME),
                  "resource": resource, "token_type": "Bearer"})
