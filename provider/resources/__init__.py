"""Resource-type modules: importing this package declares every type to the registry.

Every module in this package is imported, so adding a resource type is adding one module.
The registry (`provider.arm.resource_type.REGISTRY`) imports this package on its first lookup.
"""

import pkgutil
from importlib import import_module

for _module in pkgutil.iter_modules(__path__):
    import_module(f"{__name__}.{_module.name}")
