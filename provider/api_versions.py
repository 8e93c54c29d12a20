"""Every api-version each emulated resource type accepts: all that its real provider publishes.

Real ARM accepts any version a provider has ever published, so today's SDKs and yesterday's
templates both work. The lists are the api-version folders of the official specs
(Azure/azure-rest-api-specs) that define each type; `tests/data/spec_api_versions.json` is the
checked-in snapshot of those folder names and `tests/resources/test_api_versions.py` keeps these
lists sorted and equal to it. A leaf module: the ARM layer and the resource types both read it.

Where a version changes a type's shape (a field added, made read-only, renamed), the resource
type module names the first version of the change from here with `since()`.
"""

from __future__ import annotations

IOT_HUBS = (
    "2016-02-03", "2017-01-19", "2017-07-01", "2018-01-22", "2018-04-01", "2018-12-01-preview", "2019-03-22",
    "2019-03-22-preview", "2019-07-01-preview", "2019-11-04", "2020-03-01", "2020-04-01", "2020-06-15",
    "2020-07-10-preview", "2020-08-01", "2020-08-31", "2020-08-31-preview", "2021-02-01-preview",
    "2021-03-03-preview", "2021-03-31", "2021-07-01", "2021-07-01-preview", "2021-07-02", "2021-07-02-preview",
    "2022-04-30-preview", "2022-11-15-preview", "2023-06-30", "2023-06-30-preview", "2025-08-01-preview",
    "2026-03-01-preview", "2026-05-01-preview", "2026-08-01-preview", "2026-10-01-preview", "2026-11-01",
)
PROVISIONING_SERVICES = (
    "2017-08-21-preview", "2017-11-15", "2018-01-22", "2020-01-01", "2020-03-01", "2020-09-01-preview",
    "2021-10-15", "2022-02-05", "2022-12-12", "2023-03-01-preview", "2025-02-01-preview", "2026-03-01-preview",
    "2026-04-01", "2026-06-01-preview", "2026-11-01",
)
DEVICE_REGISTRY_NAMESPACES = (
    "2025-07-01-preview", "2025-10-01", "2025-11-01-preview", "2026-03-01-preview", "2026-04-01", "2026-11-01",
    "2026-11-02-preview",
)
# the preview credential model (credentials/default, credentials/default/policies)
DEVICE_REGISTRY_CREDENTIALS = ("2025-11-01-preview", "2026-03-01-preview")
# the GA model (namespaces/certificateAuthorities, .../certificatePolicies)
DEVICE_REGISTRY_CERTIFICATE_AUTHORITIES = ("2026-11-01", "2026-11-02-preview")
DEVICE_REGISTRY_DEVICES = DEVICE_REGISTRY_NAMESPACES
RESOURCE_GROUPS = (
    "2015-11-01", "2016-02-01", "2016-07-01", "2016-09-01", "2017-05-10", "2018-02-01", "2018-05-01",
    "2019-03-01", "2019-05-01", "2019-05-10", "2019-07-01", "2019-08-01", "2019-10-01", "2020-06-01",
    "2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-09-01", "2023-07-01", "2024-03-01",
    "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01",
)
DEPLOYMENTS = (*RESOURCE_GROUPS, "2026-06-01", "2026-09-01")
USER_ASSIGNED_IDENTITIES = (
    "2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31",
    "2023-07-31-preview", "2024-11-30", "2025-01-31-preview", "2025-05-31-preview", "2026-04-30", "2026-05-31",
)
ROLE_ASSIGNMENTS = (
    "2015-07-01", "2017-10-01-preview", "2018-01-01-preview", "2018-09-01-preview", "2020-03-01-preview",
    "2020-04-01-preview", "2020-08-01-preview", "2020-10-01-preview", "2022-04-01",
)
ROLE_DEFINITIONS = ("2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview")
STORAGE_ACCOUNTS = (
    "2015-05-01-preview", "2015-06-15", "2016-01-01", "2016-05-01", "2016-12-01", "2017-06-01", "2017-10-01",
    "2018-02-01", "2018-03-01-preview", "2018-07-01", "2018-11-01", "2019-04-01", "2019-06-01",
    "2020-08-01-preview", "2021-01-01", "2021-02-01", "2021-04-01", "2021-06-01", "2021-08-01", "2021-09-01",
    "2022-05-01", "2022-09-01", "2023-01-01", "2023-04-01", "2023-05-01", "2024-01-01", "2025-01-01",
    "2025-06-01", "2025-08-01", "2026-04-01", "2026-06-01", "2026-09-01",
)

# Every table above, by lower-cased ARM type (what the snapshot test walks).
BY_TYPE: dict[str, tuple[str, ...]] = {
    "microsoft.devices/iothubs": IOT_HUBS,
    "microsoft.devices/provisioningservices": PROVISIONING_SERVICES,
    "microsoft.deviceregistry/namespaces": DEVICE_REGISTRY_NAMESPACES,
    "microsoft.resources/resourcegroups": RESOURCE_GROUPS,
    "microsoft.resources/deployments": DEPLOYMENTS,
    "microsoft.managedidentity/userassignedidentities": USER_ASSIGNED_IDENTITIES,
    "microsoft.authorization/roleassignments": ROLE_ASSIGNMENTS,
    "microsoft.authorization/roledefinitions": ROLE_DEFINITIONS,
    "microsoft.storage/storageaccounts": STORAGE_ACCOUNTS,
}


def since(versions: tuple[str, ...], first: str, until: str | None = None) -> tuple[str, ...]:
    """The versions of `versions` from `first` on (and up to `until`, inclusive): where a shape holds.

    Versions sort as published dates; a preview sorts after the stable release of the same date,
    which is how the specs' folders order them. `first` must be one of `versions` (a typo fails loudly).
    """
    for bound in (first, until):
        if bound is not None and bound not in versions:
            raise ValueError(f"{bound} is not a published api-version of this type")
    return tuple(v for v in versions if v >= first and (until is None or v <= until))
