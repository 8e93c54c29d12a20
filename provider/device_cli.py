"""`adr-emulator device register`: provision a device through the emulated DPS and get its certificate.

Generates a P-384 key and a CSR (CN = registration id), registers over HTTPS with symmetric-key
attestation (the individual enrollment's key, or `--group-key` to derive the device key from an
enrollment group's key), X.509 attestation (`--cert`/`--cert-key`) or TPM attestation (`--tpm`: the
challenge round, then a SAS the TPM signs), polls the operation, then
writes the private key (mode 0600) and the issued chain (leaf, issuing CA, root) as PEM and prints
the assigned hub and device id. The key never leaves this process except into `--csr-key-out`;
with `--tpm-key` it is created in the TPM and signs the CSR there, and the file holds only the
TPM's SRK-wrapped blob (`TSS2 PRIVATE KEY`).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path
from typing import Any

from provider.common import der_to_pem
from provider.dps.sas import derive_device_key, generate_sas, signed_sas

DEFAULT_API_VERSION = "2025-07-01-preview"
POLL_TIMEOUT_SECONDS = 60


def register_command(subparsers: Any) -> None:
    """Add `device register` to the `adr-emulator` command line."""
    device = subparsers.add_parser("device", help="device-side helpers (DPS registration)")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    reg = device_sub.add_parser("register", help="register a device with DPS and receive an ADR certificate")
    reg.add_argument("--dps", required=True, help="DPS device endpoint, e.g. https://localhost:7443")
    reg.add_argument("--id-scope", required=True, help="the DPS id scope (0ne...)")
    reg.add_argument("--registration-id", required=True, help="registration id (also the certificate CN)")
    reg.add_argument("--key", help="symmetric key (base64): the enrollment's, or the group's with --group-key")
    reg.add_argument("--group-key", action="store_true", help="--key is an enrollment group key: derive the device key")
    reg.add_argument("--cert", help="X.509 attestation: PEM client certificate (chain) instead of --key")
    reg.add_argument("--cert-key", help="PEM private key of --cert")
    reg.add_argument("--csr-key-out", help="where to write the new private key (default: <registration-id>.key.pem)")
    reg.add_argument("--chain-out", help="where to write the issued chain (default: <registration-id>.chain.pem)")
    reg.add_argument("--ca-file", help="PEM CA that signs the emulator's TLS certificate (adr-emulator ca-cert)")
    reg.add_argument("--tpm", metavar="TCTI", help="TPM attestation with the TPM at this TCTI, e.g. "
                     "swtpm:host=127.0.0.1,port=2321 (needs the `tpm` extra); enroll its EK first (device tpm-ek)")
    reg.add_argument("--tpm-key", action="store_true", help="with --tpm: create the certificate's key in the TPM "
                     "(P-384 under the SRK); --csr-key-out then gets the TSS2 PRIVATE KEY blob tpm2-openssl loads")
    reg.add_argument("--no-csr", action="store_true", help="register without a CSR (no certificate is issued)")
    reg.add_argument("--api-version", default=DEFAULT_API_VERSION, help=f"device API version ({DEFAULT_API_VERSION})")
    reg.set_defaults(func=run_register)
    ek = device_sub.add_parser("tpm-ek", help="print a TPM's endorsementKey and storageRootKey (creating them)")
    ek.add_argument("--tpm", metavar="TCTI", required=True, help="e.g. swtpm:host=127.0.0.1,port=2321")
    ek.set_defaults(func=run_tpm_ek)

    sas = subparsers.add_parser("sas", help="print a SharedAccessSignature token (DPS or IoT Hub service API)")
    sas.add_argument("--resource", required=True,
                     help="resource URI: the DPS serviceOperationsHostName or the hub hostName")
    sas.add_argument("--key", required=True, help="base64 key of the policy (from ARM listkeys)")
    sas.add_argument("--key-name", default=None, help="policy name, e.g. provisioningserviceowner or iothubowner")
    sas.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid (default 3600)")
    sas.set_defaults(func=run_sas)


def run_sas(args: Any) -> int:
    """Print a token for `Authorization:` headers, signed as the Azure SDKs sign theirs."""
    import time


    try:
        print(generate_sas(args.resource, args.key, args.key_name, int(time.time()) + args.ttl))
    except ValueError as exc:
        print(f"adr-emulator sas: {exc}", file=sys.stderr)
        return 2
    return 0


def _open_tpm(tcti: str) -> Any:
    """The device's TPM; tpm2-pytss is the optional `tpm` extra, so it is imported only when asked for."""
    try:
        from provider.tpm_device import open_device_tpm  # lazy: the optional `tpm` extra (tpm2-pytss)
    except ImportError:
        raise SystemExit("device: --tpm needs the `tpm` extra: apt-get install -y libtss2-dev, then "
                         "pip install 'adr-emulator[tpm]'") from None
    try:
        return open_device_tpm(tcti)
    except Exception as exc:  # noqa: BLE001 - the TSS reports an unreachable or failing TPM in its own types
        raise SystemExit(f"device: cannot open the TPM at {tcti}: {exc}") from None


def run_tpm_ek(args: argparse.Namespace) -> int:
    """What an enrollment needs from this TPM (and the registration id an SDK would derive)."""
    device = _open_tpm(args.tpm)
    try:
        print(f"endorsementKey:  {device.endorsement_key_b64}")
        print(f"storageRootKey:  {device.storage_root_key_b64}")
        print(f"registrationId:  {device.derived_registration_id}  (what a device SDK derives when given none)")
    finally:
        device.close()
    return 0


def _tpm_token(session: Any, url: str, args: argparse.Namespace, device: Any, body: dict[str, Any],
               verify: Any) -> str | None:
    """Round 1: send the EK and SRK, import the challenge, and sign the SAS with the key the TPM now holds."""
    resp = session.put(f"{url}/register", params={"api-version": args.api_version}, json=body, verify=verify,
                       timeout=30)
    challenge = resp.json().get("authenticationKey") if resp.status_code == 401 else None
    if not challenge:
        print(f"device register: no TPM challenge: {_error_text(resp)}", file=sys.stderr)
        return None
    key = device.import_challenge(challenge)
    try:
        return signed_sas(f"{args.id_scope}/registrations/{args.registration_id}",
                          lambda data: device.hmac(key, data), "registration")
    finally:
        device.esapi.flush_context(key)


def _csr_b64(registration_id: str, key: Any) -> str:
    """A CSR with CN = registration id, signed by `key` (in this process, or in the TPM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, registration_id)]))
           .sign(key, hashes.SHA384()))
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _new_key_pem_and_csr(registration_id: str, device: Any, in_tpm: bool) -> tuple[bytes, str]:
    """The certificate's key as the PEM to write, and its CSR: a P-384 key here, or one held by the TPM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if in_tpm:
        with device.new_device_key() as tpm_key:
            return tpm_key.pem, _csr_b64(registration_id, tpm_key.private_key)
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, _csr_b64(registration_id, key)


def _write_private(path: Path, data: bytes) -> None:
    """Create the file with mode 0600 from the start (never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _chain_pem(chain_b64: list[str]) -> str:

    return "".join(der_to_pem(base64.b64decode(item)) for item in chain_b64)


def _error_text(resp: Any) -> str:
    try:
        body = resp.json()
        return f"{resp.status_code} {body.get('errorCode', '')}: {body.get('message', resp.text)}"
    except ValueError:
        return f"{resp.status_code}: {resp.text[:300]}"


def run_register(args: argparse.Namespace) -> int:
    import requests


    if not args.key and not args.cert and not args.tpm:
        print("device register: give --key (symmetric key), --cert/--cert-key (X.509) or --tpm", file=sys.stderr)
        return 2
    if args.cert and not args.cert_key:
        print("device register: --cert needs --cert-key", file=sys.stderr)
        return 2
    if args.tpm_key and (not args.tpm or args.no_csr):
        print("device register: --tpm-key needs --tpm and a CSR (not --no-csr)", file=sys.stderr)
        return 2
    registration_id = args.registration_id
    base = args.dps.rstrip("/")
    url = f"{base}/{args.id_scope}/registrations/{registration_id}"
    session = requests.Session()
    verify = args.ca_file or True  # per request: REQUESTS_CA_BUNDLE would override a session-level setting
    headers: dict[str, str] = {}
    if args.key:
        try:
            key = derive_device_key(args.key, registration_id) if args.group_key else args.key
            headers["Authorization"] = generate_sas(f"{args.id_scope}/registrations/{registration_id}", key,
                                                    "registration")
        except ValueError:
            print("device register: --key must be base64", file=sys.stderr)
            return 2
    if args.cert:
        session.cert = (args.cert, args.cert_key)
    body: dict[str, Any] = {"registrationId": registration_id}
    device = _open_tpm(args.tpm) if args.tpm else None
    if device is not None:
        body["tpm"] = {"endorsementKey": device.endorsement_key_b64, "storageRootKey": device.storage_root_key_b64}
    key_pem = None
    if not args.no_csr:
        key_pem, body["csr"] = _new_key_pem_and_csr(registration_id, device, args.tpm_key)
    try:
        if device is not None:
            token = _tpm_token(session, url, args, device, {k: body[k] for k in ("registrationId", "tpm")}, verify)
            device.close()
            if token is None:
                return 1
            headers["Authorization"] = token
        resp = session.put(f"{url}/register", params={"api-version": args.api_version}, json=body, headers=headers,
                           verify=verify, timeout=30)
        if resp.status_code not in (200, 202):
            print(f"device register: registration refused: {_error_text(resp)}", file=sys.stderr)
            return 1
        result = resp.json()
        deadline = time.monotonic() + POLL_TIMEOUT_SECONDS
        while result.get("status") == "assigning":
            # the emulator finishes inside the PUT, so the first poll is immediate
            resp = session.get(f"{url}/operations/{result['operationId']}", params={"api-version": args.api_version},
                               headers=headers, verify=verify, timeout=30)
            if resp.status_code not in (200, 202):
                print(f"device register: polling failed: {_error_text(resp)}", file=sys.stderr)
                return 1
            result = resp.json()
            if result.get("status") == "assigning":
                if time.monotonic() > deadline:
                    print("device register: the registration did not finish in time", file=sys.stderr)
                    return 1
                time.sleep(float(resp.headers.get("Retry-After", "1") or 1))
    except requests.RequestException as exc:
        print(f"device register: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    state = result.get("registrationState") or {}
    if result.get("status") != "assigned":
        print(f"device register: status {result.get('status')}: {state.get('errorMessage', '')}", file=sys.stderr)
        return 1
    print(f"assignedHub: {state.get('assignedHub')}")
    print(f"deviceId:    {state.get('deviceId')}")
    chain = state.get("issuedCertificateChain")
    if key_pem is not None and chain:
        key_out = Path(args.csr_key_out or f"{registration_id}.key.pem")
        chain_out = Path(args.chain_out or f"{registration_id}.chain.pem")
        _write_private(key_out, key_pem)
        chain_out.write_text(_chain_pem(chain))
        print(f"key:         {key_out}" + (" (TSS2 PRIVATE KEY: only this TPM can load it)" if args.tpm_key else ""))
        print(f"chain:       {chain_out} ({len(chain)} certificates: leaf, issuing CA, root)")
    return 0
