"""An enrollment's link to the Device Registry policy that issues its devices' certificates.

2025-07-01-preview names the policy with `credentialPolicyName`; 2026-11-01 with
`namespaceName` + `certificateAuthorityName` + `certificatePolicyName` (all three or none). The
link is stored as the policy's ARM id, so each api-version reads it back in its own shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provider.adr import ids
from provider.dps import errors
from provider.dps.body import bad, read_string
from provider.dps.errors import DpsError

if TYPE_CHECKING:
    from provider.state import Emulator

PREVIEW_LINK = "2025-07-01-preview"
GA_LINK = "2026-11-01"
GA_LINK_FIELDS = ("namespaceName", "certificateAuthorityName", "certificatePolicyName")


def _linked_namespace(emu: Emulator, dps_doc: dict[str, Any]) -> dict[str, Any]:
    namespace_id = emu.dps.namespace_id(dps_doc)
    namespace = emu.adr.namespace(namespace_id) if namespace_id else None
    if namespace is None:
        raise DpsError(errors.NAMESPACE_NOT_LINKED,
                       "This provisioning service is not linked to an Azure Device Registry namespace "
                       "(properties.deviceRegistryNamespace.resourceId), so an enrollment cannot reference a "
                       "certificate policy.")
    return namespace


def _policy_id(emu: Emulator, namespace: dict[str, Any], policy_name: str) -> str:
    doc = emu.adr.policy(namespace["id"], policy_name)
    if doc is None:
        raise DpsError(errors.POLICY_NOT_FOUND,
                       f"The certificate policy '{policy_name}' does not exist in the namespace "
                       f"'{namespace['name']}' linked to this provisioning service.", info={"policy": policy_name})
    return doc["id"]


def resolve_link(emu: Emulator, dps_doc: dict[str, Any], api_version: str, body: dict[str, Any],
                 existing: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(policy ARM id or None, certificate authority name or None) for the stored record."""
    kept = ((existing or {}).get("_policyId"), (existing or {}).get("_caName"))
    present_ga = [f for f in GA_LINK_FIELDS if body.get(f) not in (None, "")]
    has_preview = body.get("credentialPolicyName") not in (None, "")
    if api_version == PREVIEW_LINK:
        if present_ga:
            raise DpsError(errors.FIELD_NOT_IN_API_VERSION,
                           f"{', '.join(present_ga)} belong to api-version {GA_LINK}; with {PREVIEW_LINK} "
                           "reference the policy with credentialPolicyName.")
        name = read_string(body.get("credentialPolicyName"), "credentialPolicyName")
        if not name:
            return None, None
        return _policy_id(emu, _linked_namespace(emu, dps_doc), name), None
    if api_version == GA_LINK:
        if has_preview:
            raise DpsError(errors.FIELD_NOT_IN_API_VERSION,
                           f"credentialPolicyName belongs to api-version {PREVIEW_LINK}; with {GA_LINK} use "
                           "namespaceName, certificateAuthorityName and certificatePolicyName.")
        if not present_ga:
            return None, None
        if len(present_ga) != len(GA_LINK_FIELDS):
            missing = [f for f in GA_LINK_FIELDS if f not in present_ga]
            raise DpsError(errors.INCOMPLETE_POLICY_REFERENCE,
                           "namespaceName, certificateAuthorityName and certificatePolicyName must be given all "
                           f"three or none; missing: {', '.join(missing)}.")
        names = {f: read_string(body[f], f) or "" for f in GA_LINK_FIELDS}
        if not ids.NAMESPACE_NAME_RULE.matches(names["namespaceName"]):
            raise bad("namespaceName must be 3-64 lower-case letters, digits or '-', not starting or ending with '-'.")
        for f in ("certificateAuthorityName", "certificatePolicyName"):
            if not ids.CHILD_NAME_RULE.matches(names[f]):
                raise bad(f"{f} must be 3-63 letters, digits or '-', starting with a letter or digit.")
        namespace = _linked_namespace(emu, dps_doc)
        if namespace["name"].lower() != names["namespaceName"].lower():
            raise DpsError(errors.POLICY_NOT_FOUND,
                           f"namespaceName '{names['namespaceName']}' is not the namespace linked to this "
                           f"provisioning service ('{namespace['name']}').")
        ga_policy = emu.adr.certificate_policy(namespace["id"], names["certificateAuthorityName"],
                                               names["certificatePolicyName"])
        if ga_policy is not None:
            return ga_policy["id"], None
        if emu.adr.certificate_authority(namespace["id"], names["certificateAuthorityName"]) is not None:
            raise DpsError(errors.POLICY_NOT_FOUND,
                           f"The certificate authority '{names['certificateAuthorityName']}' of namespace "
                           f"'{namespace['name']}' has no certificate policy '{names['certificatePolicyName']}'.",
                           info={"policy": names["certificatePolicyName"]})
        # no GA certificate authority of that name: the preview policy of that name (docs/divergences.md)
        return _policy_id(emu, namespace, names["certificatePolicyName"]), names["certificateAuthorityName"]
    if present_ga or has_preview:
        fields = [*present_ga, *(["credentialPolicyName"] if has_preview else [])]
        raise DpsError(errors.FIELD_NOT_IN_API_VERSION,
                       f"{', '.join(fields)} are not part of api-version {api_version}; use {PREVIEW_LINK} or "
                       f"{GA_LINK} to link an enrollment to a certificate policy.")
    return kept


def link_fields(record: dict[str, Any], api_version: str) -> dict[str, str]:
    """The link as `api_version` renders it (nothing for a version without links)."""
    policy_id = record.get("_policyId")
    if not policy_id:
        return {}
    namespace, ca, policy = ids.policy_names(policy_id)
    if api_version == PREVIEW_LINK:
        return {"credentialPolicyName": policy}
    if api_version == GA_LINK:
        return {"namespaceName": namespace,
                "certificateAuthorityName": ca or record.get("_caName") or ids.CREDENTIAL_NAME,
                "certificatePolicyName": policy}
    return {}
