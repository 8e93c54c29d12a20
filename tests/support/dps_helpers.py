"""Building a full ADR + IoT Hub + DPS setup over plain HTTP, and small DPS clients for the tests.

`create_env` follows adr-howto §4.2-§4.5: identity, namespace with credential and policy, a GEN2 hub
linked to the namespace, a DPS linked to the namespace and the hub. `DpsEnv` then signs service
and device requests the way real clients do (SAS tokens, TLS client certificates).
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provider.dps.sas import derive_device_key, generate_sas
from tests.support.adr_setup import create_namespace_with_policy, namespace_pki, ns_path, policy_body

HUB_API = "2025-08-01-preview"
DPS_ARM_API = "2025-02-01-preview"
MSI_API = "2023-01-31"
DEVICE_API = "2025-07-01-preview"
SERVICE_API = "2025-07-01-preview"
HUB_SERVICE_API = "2021-04-12"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass
class DpsEnv:
    """One linked namespace/hub/DPS triple and the secrets a test needs to talk to it."""

    rg: str
    namespace: str
    namespace_id: str
    policy: str
    hub_name: str
    hub_host: str
    hub_owner_key: str
    dps_name: str
    dps_path: str
    id_scope: str
    service_host: str
    owner_key: str
    https: str
    http: str
    ca_file: str
    root_pem: str
    ica_pem: str
    session: requests.Session = field(default_factory=requests.Session)

    # ---- service API ----------------------------------------------------------------------------------
    def service_token(self, key: str | None = None, key_name: str = "provisioningserviceowner",
                      resource: str | None = None, expiry: int | None = None) -> str:
        return generate_sas(resource or self.service_host, key or self.owner_key, key_name, expiry)

    def service(self, method: str, path: str, body=None, api_version: str = SERVICE_API, token: str | None = None,
                headers: dict | None = None, base: str | None = None) -> requests.Response:
        all_headers = {"Authorization": token if token is not None else self.service_token()}
        all_headers.update(headers or {})
        sep = "&" if "?" in path else "?"
        url = f"{base or self.https}{path}" + (f"{sep}api-version={api_version}" if api_version else "")
        return self.session.request(method, url, json=body, headers=all_headers, verify=self.ca_file, timeout=30)

    def put_enrollment(self, body: dict, group: bool = False, api_version: str = SERVICE_API) -> dict:
        collection = "enrollmentGroups" if group else "enrollments"
        enrollment_id = body["enrollmentGroupId" if group else "registrationId"]
        r = self.service("PUT", f"/{collection}/{enrollment_id}", body, api_version=api_version)
        assert r.status_code == 200, r.text
        return r.json()

    # ---- device API -----------------------------------------------------------------------------------
    def device_token(self, registration_id: str, key: str, skn: str | None = "registration",
                     scope: str | None = None, expiry: int | None = None) -> str:
        return generate_sas(f"{scope or self.id_scope}/registrations/{registration_id}", key, skn, expiry)

    def device_url(self, registration_id: str, suffix: str = "/register", api_version: str = DEVICE_API,
                   scope: str | None = None, base: str | None = None) -> str:
        return (f"{base or self.https}/{scope or self.id_scope}/registrations/{registration_id}{suffix}"
                f"?api-version={api_version}")

    def register(self, registration_id: str, *, key: str | None = None, cert: tuple[str, str] | None = None,
                 csr: str | None = None, body: dict | None = None, token: str | None = None,
                 session: requests.Session | None = None, api_version: str = DEVICE_API) -> requests.Response:
        headers = {}
        if token is not None or key is not None:
            headers["Authorization"] = token if token is not None else self.device_token(registration_id, key)
        payload = body if body is not None else {"registrationId": registration_id}
        if csr is not None:
            payload = {**payload, "csr": csr}
        s = session or self.session
        return s.put(self.device_url(registration_id, api_version=api_version), json=payload, headers=headers,
                     cert=cert, verify=self.ca_file, timeout=30)

    def poll(self, registration_id: str, operation_id: str, *, key: str | None = None, token: str | None = None,
             cert: tuple[str, str] | None = None, session: requests.Session | None = None) -> requests.Response:
        headers = {"Authorization": token or self.device_token(registration_id, key)} if key or token else {}
        s = session or self.session
        return s.get(self.device_url(registration_id, f"/operations/{operation_id}"), headers=headers, cert=cert,
                     verify=self.ca_file, timeout=30)

    def provision(self, registration_id: str, **kw) -> dict:
        """Register and poll once; the assigned operation status."""
        r = self.register(registration_id, **kw)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "assigning" and r.headers["Retry-After"] == "1"
        polled = self.poll(registration_id, r.json()["operationId"], key=kw.get("key"), token=kw.get("token"),
                           cert=kw.get("cert"), session=kw.get("session"))
        assert polled.status_code == 200, polled.text
        assert polled.json()["status"] == "assigned"
        return polled.json()

    # ---- hub service API --------------------------------------------------------------------------------
    def hub_device(self, device_id: str) -> requests.Response:
        token = generate_sas(self.hub_host, self.hub_owner_key, "iothubowner")
        return self.session.get(f"{self.https}/devices/{device_id}?api-version={HUB_SERVICE_API}",
                                headers={"Authorization": token}, verify=self.ca_file, timeout=30)


def create_env(arm, emulator, rg: str, *, policy: str = "default", days: int = 30,
               link_namespace: bool = True) -> DpsEnv:
    namespace = unique("ns-")
    create_namespace_with_policy(arm, rg, namespace, policy, days)
    namespace_doc = arm.get(ns_path(rg, namespace)).json()
    uami = arm.put(f"resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{unique('id-')}",
                   {"location": "eastus"}, api_version=MSI_API).json()
    identity = {"type": "UserAssigned", "userAssignedIdentities": {uami["id"]: {}}}
    hub_name = unique("hub")
    hub_path = f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{hub_name}"
    r = arm.put(hub_path, {"location": "eastus", "sku": {"name": "GEN2", "capacity": 1}, "identity": identity,
                           "properties": {"deviceRegistry": {"namespaceResourceId": namespace_doc["id"],
                                                             "identityResourceId": uami["id"]}}},
                api_version=HUB_API)
    assert r.status_code == 201, r.text
    hub_host = r.json()["properties"]["hostName"]
    hub_keys = {p["keyName"]: p for p in arm.post(f"{hub_path}/listkeys", api_version=HUB_API).json()["value"]}
    owner = hub_keys["iothubowner"]["primaryKey"]
    dps_name = unique("dps")
    dps_path = f"resourceGroups/{rg}/providers/Microsoft.Devices/provisioningServices/{dps_name}"
    properties: dict = {"iotHubs": [{"connectionString": f"HostName={hub_host};SharedAccessKeyName=iothubowner;"
                                                         f"SharedAccessKey={owner}", "location": "eastus"}]}
    if link_namespace:
        properties["deviceRegistryNamespace"] = {"resourceId": namespace_doc["id"],
                                                 "authenticationType": "UserAssigned",
                                                 "selectedUserAssignedIdentityResourceId": uami["id"]}
    r = arm.put(dps_path, {"location": "eastus", "sku": {"name": "S1", "capacity": 1}, "identity": identity,
                           "properties": properties}, api_version=DPS_ARM_API)
    assert r.status_code == 201, r.text
    props = r.json()["properties"]
    dps_keys = {p["keyName"]: p for p in arm.post(f"{dps_path}/listkeys", api_version=DPS_ARM_API).json()["value"]}
    pki = namespace_pki(arm, rg, namespace)
    return DpsEnv(rg=rg, namespace=namespace, namespace_id=namespace_doc["id"], policy=policy, hub_name=hub_name,
                  hub_host=hub_host, hub_owner_key=owner, dps_name=dps_name, dps_path=dps_path,
                  id_scope=props["idScope"], service_host=props["serviceOperationsHostName"],
                  owner_key=dps_keys["provisioningserviceowner"]["primaryKey"], https=emulator.https,
                  http=emulator.http, ca_file=emulator.ca_file, root_pem=pki["root"],
                  ica_pem=pki["policies"][policy]["issuingCa"])


def add_policy(arm, env: DpsEnv, name: str, days: int = 30) -> None:
    r = arm.put(f"{ns_path(env.rg, env.namespace)}/credentials/default/policies/{name}", policy_body(days))
    assert r.status_code == 201, r.text


# ---- keys, CSRs and certificates -----------------------------------------------------------------------
def new_key_b64() -> str:
    import os

    return base64.b64encode(os.urandom(64)).decode()


def group_device_key(group_key: str, registration_id: str) -> str:
    return derive_device_key(group_key, registration_id)


def csr_b64(common_name: str, key=None, hash_alg=None) -> tuple[object, str]:
    key = key or ec.generate_private_key(ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hash_alg or hashes.SHA384()))
    return key, base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str, issuer=None, issuer_key=None, days: int = 365):
    """(key, certificate) of a CA; self-signed unless issuer/issuer_key are given."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer.subject if issuer else _name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(issuer_key or key, hashes.SHA256()))
    return key, cert


def make_device_cert(cn: str, issuer=None, issuer_key=None, *, not_before: datetime | None = None,
                     not_after: datetime | None = None):
    """(key, certificate) of a device; self-signed unless issuer/issuer_key are given."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(issuer.subject if issuer else _name(cn)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - timedelta(days=1))
               .not_valid_after(not_after or now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
                                        critical=False)
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def write_client_files(directory: Path, name: str, key, certs: list[x509.Certificate]) -> tuple[str, str]:
    """(cert chain file, key file) for requests' `cert=`."""
    cert_file = directory / f"{name}.crt"
    key_file = directory / f"{name}.key"
    cert_file.write_text("".join(pem(c) for c in certs))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def chain_from(operation: dict) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(base64.b64decode(c))
            for c in operation["registrationState"]["issuedCertificateChain"]]


def openssl_verify(root_pem: str, ica_pem: str, leaf: x509.Certificate) -> subprocess.CompletedProcess:
    """`openssl verify -CAfile root.pem -untrusted ica.pem leaf.pem`."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "root.pem").write_text(root_pem)
        (d / "ica.pem").write_text(ica_pem)
        (d / "leaf.pem").write_text(pem(leaf))
        return subprocess.run(["openssl", "verify", "-CAfile", str(d / "root.pem"), "-untrusted", str(d / "ica.pem"),
                               str(d / "leaf.pem")], capture_output=True, text=True, timeout=30)
