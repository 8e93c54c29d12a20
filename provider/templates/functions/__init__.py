"""Built-in template functions, one module per family; importing this package fills `FUNCTIONS`."""

from provider.templates.functions import (  # noqa: F401  (imported for their registrations)
    arrays,
    cidr,
    deployment,
    lambdas,
    logical,
    numeric,
    resource,
    strings,
)
from provider.templates.functions._registry import FUNCTIONS, FunctionSpec
from provider.templates.functions.resource import LIST_ACTION

__all__ = ["FUNCTIONS", "FunctionSpec", "LIST_ACTION"]
