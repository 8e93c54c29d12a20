"""Where Device Registry resources live: the id layout of namespaces, credentials, policies and
devices, written once. Ids keep the caller's casing; comparisons are case-insensitive."""

from __future__ import annotations

from provider.arm.resource_type import NameRule

NAMESPACE_TYPE = "Microsoft.DeviceRegistry/namespaces"
POLICY_TYPE = "Microsoft.DeviceRegistry/namespaces/credentials/policies"
# the GA model (2026-11-01): certificate authorities, and certificate policies under them
CA_TYPE = "Microsoft.DeviceRegistry/namespaces/certificateAuthorities"
CERTIFICATE_POLICY_TYPE = "Microsoft.DeviceRegistry/namespaces/certificateAuthorities/certificatePolicies"
DEVICE_TYPE = "Microsoft.DeviceRegistry/namespaces/devices"
CREDENTIAL_NAME = "default"  # the preview's one credential per namespace

# the name rules of the service, shared by the resource types and DPS enrollments that name them
NAMESPACE_NAME_RULE = NameRule(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$", 3, 64,
                               "Use lower-case letters, digits and '-', starting and ending with a letter or digit.")
CHILD_NAME_RULE = NameRule(r"^[0-9a-zA-Z][a-zA-Z0-9-]*$", 3, 63,
                           "Use letters, digits and '-', starting with a letter or digit.")


def namespace_of(resource_id: str) -> str:
    """The namespace id that a credential, policy or device id lives under."""
    lowered = resource_id.lower()
    at = lowered.index("/namespaces/") + len("/namespaces/")
    end = lowered.find("/", at)
    return resource_id if end < 0 else resource_id[:end]


def credential_id(namespace_id: str) -> str:
    return f"{namespace_id}/credentials/{CREDENTIAL_NAME}"


def policy_id(namespace_id: str, policy_name: str) -> str:
    return f"{credential_id(namespace_id)}/policies/{policy_name}"


def credential_of(policy: str) -> str:
    """The credential (root CA owner) a preview policy id lives under."""
    return policy[: policy.lower().rindex("/policies/")]


def device_id(namespace_id: str, device_name: str) -> str:
    return f"{namespace_id}/devices/{device_name}"


def certificate_authority_id(namespace_id: str, ca_name: str) -> str:
    return f"{namespace_id}/certificateAuthorities/{ca_name}"


def certificate_policy_id(namespace_id: str, ca_name: str, policy_name: str) -> str:
    return f"{certificate_authority_id(namespace_id, ca_name)}/certificatePolicies/{policy_name}"


def is_certificate_policy(policy: str) -> bool:
    """A GA certificate policy (`.../certificateAuthorities/{ca}/certificatePolicies/{p}`), not a preview one."""
    return "/certificateauthorities/" in policy.lower()


def ca_of(policy: str) -> str:
    """The certificate authority a GA policy id lives under."""
    return policy[: policy.lower().rindex("/certificatepolicies/")]


def policy_names(policy: str) -> tuple[str, str | None, str]:
    """(namespace name, certificate-authority name or None for a preview policy, policy name)."""
    parts = policy.split("/")
    lowered = [p.lower() for p in parts]
    namespace = parts[lowered.index("namespaces") + 1]
    ca = parts[lowered.index("certificateauthorities") + 1] if "certificateauthorities" in lowered else None
    return namespace, ca, parts[-1]
