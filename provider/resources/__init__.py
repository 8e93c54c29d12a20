"""Resource-type modules: importing this package declares every type to the registry.

Adding a resource type means adding one module here and naming it below.
"""

from importlib import import_module

MODULES = (
    "namespaces",
    "credentials",
    "policies",
    "namespace_devices",
    "identities",
    "role_assignments",
    "iothubs",
    "iothub_children",
    "provisioning_services",
    "deployments",
)

for _name in MODULES:
    try:
        import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:  # a module another engineer has not landed yet
        if exc.name != f"{__name__}.{_name}":
            raise
