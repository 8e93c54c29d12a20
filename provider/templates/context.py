"""The evaluation context handed to every template function.

A context says *where* an expression is evaluated (which copy-loop indices and lambda
variables are bound, whether runtime functions such as `reference()` are allowed there, and
whether we are only previewing), and gives access to the deployment through `Environment`.
Contexts are cheap to derive, so each evaluation site makes its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provider.templates.errors import ExpressionError


class Environment:
    """What functions need from the deployment; implemented by the engine's TemplateRuntime."""

    is_v2: bool = False
    subscription_id: str = ""
    resource_group_name: str | None = None
    tenant_id: str = ""
    location: str | None = None
    now: datetime

    def parameter(self, name: str, ctx: EvalContext) -> Any:
        raise NotImplementedError

    def variable(self, name: str, ctx: EvalContext) -> Any:
        raise NotImplementedError

    def call_user_function(self, namespace: str, name: str, args: list[Any], ctx: EvalContext) -> Any:
        raise NotImplementedError

    def reference(self, target: str, api_version: str | None, full: bool, ctx: EvalContext) -> Any:
        raise NotImplementedError

    def references(self, symbol: str, full: bool, ctx: EvalContext) -> list[Any]:
        raise NotImplementedError

    def list_action(self, action: str, target: str, api_version: str | None, body: Any, ctx: EvalContext) -> Any:
        raise NotImplementedError

    def scope_object(self, kind: str) -> dict:
        """`resourceGroup`, `subscription`, `tenant`, `deployment`, `environment`, `deployer`, `managementGroup`."""
        raise NotImplementedError

    def new_guid(self) -> str:
        raise NotImplementedError


@dataclass(slots=True)
class PreviewStats:
    """Collected during a preview evaluation: how many values were deferred, which resources were touched."""

    # Expression strings left unevaluated because they need runtime state.
    deferred_texts: list[str] = field(default_factory=list)
    # (kind, function name, evaluated first argument): kind is "reference" (reference/list*/references) or "id".
    touched: list[tuple[str, str, Any]] = field(default_factory=list)

    @property
    def deferred(self) -> int:
        return len(self.deferred_texts)


class EvalContext:
    __slots__ = (
        "env",
        "copy",
        "copy_default",
        "lambda_vars",
        "udf_params",
        "allow_runtime",
        "allow_nondeterministic",
        "allow_variables",
        "preview",
        "stats",
        "location",
    )

    def __init__(
        self,
        env: Environment,
        *,
        copy: dict[str, int] | None = None,
        copy_default: str | None = None,
        lambda_vars: dict[str, Any] | None = None,
        udf_params: dict[str, Any] | None = None,
        allow_runtime: bool = False,
        allow_nondeterministic: bool = False,
        allow_variables: bool = True,
        preview: bool = False,
        stats: PreviewStats | None = None,
        location: str = "this location",
    ) -> None:
        self.env = env
        self.copy = copy or {}
        self.copy_default = copy_default
        self.lambda_vars = lambda_vars
        self.udf_params = udf_params
        self.allow_runtime = allow_runtime
        self.allow_nondeterministic = allow_nondeterministic
        self.allow_variables = allow_variables
        self.preview = preview
        self.stats = stats
        self.location = location

    def derive(self, **changes: Any) -> EvalContext:
        new = EvalContext.__new__(EvalContext)
        for slot in EvalContext.__slots__:
            setattr(new, slot, changes[slot] if slot in changes else getattr(self, slot))
        return new

    def with_copy(self, name: str, index: int, *, default: bool = False) -> EvalContext:
        copy = dict(self.copy)
        copy[name.lower()] = index
        return self.derive(copy=copy, copy_default=name.lower() if default else self.copy_default)

    def not_expected(self, function: str) -> ExpressionError:
        return ExpressionError(f"The template function '{function}' is not expected at {self.location}.")


class Lambda:
    """A `lambda(...)` argument: parameter names plus an unevaluated body bound to its context."""

    __slots__ = ("names", "body", "ctx", "evaluate")

    def __init__(self, names: list[str], body: Any, ctx: EvalContext,
                 evaluate: Callable[[Any, EvalContext], Any]) -> None:
        self.names = names
        self.body = body
        self.ctx = ctx
        self.evaluate = evaluate

    def __call__(self, *values: Any) -> Any:
        bound = dict(self.ctx.lambda_vars or {})
        for name, value in zip(self.names, values, strict=False):
            bound[name.lower()] = value
        return self.evaluate(self.body, self.ctx.derive(lambda_vars=bound))
