"""Parameter binding and type checking (research §3.2, §8 type constraints).

Supplied values are literal; defaults are expressions evaluated lazily (a default may use
another parameter). Each bound value is checked against its declared type and constraints;
2.0 schemas (`$ref`, `items`, `properties`, `additionalProperties`, `discriminator`,
`nullable`) are checked recursively. Secure values are tracked so nothing echoes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provider.templates.errors import INVALID_TEMPLATE, TemplateError
from provider.templates.values import equals_ignore_case, get_ci, has_key_ci, is_int, is_number, to_string, type_name

TYPE_NAMES = {
    "string": "String",
    "securestring": "SecureString",
    "int": "Int",
    "bool": "Bool",
    "object": "Object",
    "secureobject": "SecureObject",
    "array": "Array",
}
_EXPECTED = {"string": "String", "securestring": "String", "int": "Integer", "bool": "Boolean", "object": "Object",
             "secureobject": "Object", "array": "Array"}


def _matches(kind: str, value: Any) -> bool:
    if kind in ("string", "securestring"):
        return isinstance(value, str)
    if kind == "int":
        return is_int(value) or (isinstance(value, float) and value.is_integer())
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("object", "secureobject"):
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return True


class SchemaError(Exception):
    """A value doesn't fit its declared type; `where` is the path inside the value."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where


class TypeChecker:
    def __init__(self, definitions: dict[str, Any] | None) -> None:
        self.definitions = definitions or {}

    def resolve(self, schema: Any) -> dict:
        """Follow `$ref` chains; local keys (nullable, metadata, constraints) override the target's."""
        seen = 0
        schema = dict(schema or {})
        while "$ref" in schema:
            ref = schema.pop("$ref")
            prefix = "#/definitions/"
            if not isinstance(ref, str) or not ref.startswith(prefix):
                raise SchemaError(f"The type reference '{ref}' is not supported; use '#/definitions/<name>'.")
            name = ref[len(prefix):]
            if name not in self.definitions:
                raise SchemaError(f"The type definition '{name}' referenced by '$ref' is not defined.")
            target = dict(self.definitions[name])
            target.update(schema)
            schema = target
            seen += 1
            if seen > 32:
                raise SchemaError("The '$ref' chain is too deep or circular.")
        return schema

    def kind(self, schema: dict) -> str | None:
        kind = get_ci(schema, "type")
        return kind.lower() if isinstance(kind, str) else None

    def is_secure(self, schema: Any) -> bool:
        try:
            return self.kind(self.resolve(schema)) in ("securestring", "secureobject")
        except SchemaError:
            return False

    def check(self, value: Any, schema: Any, where: str = "") -> None:
        schema = self.resolve(schema)
        kind = self.kind(schema)
        if value is None:
            if get_ci(schema, "nullable") is True or kind is None:
                return
            raise SchemaError(f"Expected a value of type '{_EXPECTED.get(kind or '', kind)}', but received null.",
                              where)
        if kind is not None and kind not in TYPE_NAMES:
            raise SchemaError(f"The type '{kind}' is not a valid template type.", where)
        if kind is not None and not _matches(kind, value):
            raise SchemaError(f"Expected a value of type '{_EXPECTED[kind]}', but received a value of type "
                              f"'{_received(value)}'.", where)
        self._constraints(value, schema, where)
        if kind == "array" or isinstance(value, list) and kind is None:
            self._array(value, schema, where)
        if kind in ("object", "secureobject"):
            self._object(value, schema, where)

    def _constraints(self, value: Any, schema: dict, where: str) -> None:
        allowed = get_ci(schema, "allowedValues")
        if isinstance(allowed, list):
            candidates = value if isinstance(value, list) and not any(isinstance(a, list) for a in allowed) else [value]
            for candidate in candidates:
                if not any(equals_ignore_case(candidate, a) for a in allowed):
                    shown = ",".join(to_string(a) for a in allowed)
                    raise SchemaError(f"The parameter value is not part of the allowed value(s): '{shown}'.", where)
        low, high = get_ci(schema, "minValue"), get_ci(schema, "maxValue")
        if is_number(value):
            if is_number(low) and value < low:
                raise SchemaError(f"The provided value '{value}' is less than the minimum value '{low}'.", where)
            if is_number(high) and value > high:
                raise SchemaError(f"The provided value '{value}' is greater than the maximum value '{high}'.", where)
        low, high = get_ci(schema, "minLength"), get_ci(schema, "maxLength")
        if isinstance(value, (str, list)):
            if is_int(low) and len(value) < low:
                raise SchemaError(f"The provided value has length {len(value)}, less than the minimum length {low}.",
                                  where)
            if is_int(high) and len(value) > high:
                raise SchemaError(f"The provided value has length {len(value)}, greater than the maximum length "
                                  f"{high}.", where)

    def _array(self, value: list, schema: dict, where: str) -> None:
        prefix = get_ci(schema, "prefixItems")
        items = get_ci(schema, "items")
        start = 0
        if isinstance(prefix, list):
            for i, item_schema in enumerate(prefix):
                if i < len(value):
                    self.check(value[i], item_schema, f"{where}[{i}]")
            start = len(prefix)
        if items is False and len(value) > start:
            raise SchemaError(f"The array has {len(value)} element(s) but at most {start} are allowed.", where)
        if isinstance(items, dict):
            for i in range(start, len(value)):
                self.check(value[i], items, f"{where}[{i}]")

    def _object(self, value: dict, schema: dict, where: str) -> None:
        discriminator = get_ci(schema, "discriminator")
        if isinstance(discriminator, dict):
            prop = get_ci(discriminator, "propertyName")
            mapping = get_ci(discriminator, "mapping") or {}
            tag = get_ci(value, prop) if isinstance(prop, str) else None
            if not isinstance(tag, str) or not has_key_ci(mapping, tag):
                options = ", ".join(mapping)
                raise SchemaError(f"The property '{prop}' must be one of '{options}'.", where)
            variant = self.resolve(get_ci(mapping, tag))
            merged = {**variant, "type": "object"}
            self._object(value, merged, where)
            return
        properties = get_ci(schema, "properties")
        additional = get_ci(schema, "additionalProperties")
        declared: set[str] = set()
        if isinstance(properties, dict):
            for name, prop_schema in properties.items():
                declared.add(name.lower())
                if has_key_ci(value, name):
                    self.check(get_ci(value, name), prop_schema, f"{where}.{name}")
                else:
                    resolved = self.resolve(prop_schema)
                    if get_ci(resolved, "nullable") is not True and not has_key_ci(resolved, "defaultValue"):
                        raise SchemaError(f"The property '{name}' is required but was not provided.", where)
        extras = [k for k in value if k.lower() not in declared]
        if additional is False and extras and isinstance(properties, dict):
            raise SchemaError(f"The properties '{', '.join(extras)}' are not allowed.", where)
        if isinstance(additional, dict):
            for key in extras:
                self.check(value[key], additional, f"{where}.{key}")


def _received(value: Any) -> str:
    return type_name(value)


def _short(value: Any) -> str:
    text = to_string(value)
    return text if len(text) <= 200 else text[:197] + "..."


class ParameterBinder:
    """Binds supplied values and defaults to the template's declared parameters."""

    def __init__(
        self,
        declared: dict[str, Any],
        supplied: dict[str, Any],
        checker: TypeChecker,
        evaluate_default: Callable[[str, Any], Any],
    ) -> None:
        self.declared = declared or {}
        self.checker = checker
        self.evaluate_default = evaluate_default
        self.by_lower = {name.lower(): name for name in self.declared}
        self.values: dict[str, Any] = {}
        self._busy: set[str] = set()
        self.supplied = self._check_supplied(supplied or {})

    def _check_supplied(self, supplied: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(supplied, dict):
            raise TemplateError(INVALID_TEMPLATE, "The deployment parameters must be an object.")
        unknown = [name for name in supplied if name.lower() not in self.by_lower]
        if unknown:
            allowed = ", ".join(self.declared)
            raise TemplateError(
                INVALID_TEMPLATE,
                f"The template parameters '{', '.join(unknown)}' in the parameters file are not valid; they are not "
                f"present in the original template and can therefore not be provided at deployment time. The only "
                f"supported parameters for this template are '{allowed}'.",
                target="parameters",
            )
        out: dict[str, Any] = {}
        for name, entry in supplied.items():
            declared_name = self.by_lower[name.lower()]
            if not isinstance(entry, dict) or not ("value" in entry or "reference" in entry):
                raise TemplateError(INVALID_TEMPLATE, f"The value of deployment parameter '{name}' must be an object "
                                    "with a 'value' (or a Key Vault 'reference').", target=f"parameters.{name}")
            if "reference" in entry and "value" not in entry:
                raise TemplateError(INVALID_TEMPLATE_DEPLOYMENT_KV, f"The parameter '{name}' uses a Key Vault "
                                    "reference, which this emulator can't resolve; pass a 'value' instead.",
                                    target=f"parameters.{name}")
            out[declared_name] = entry["value"]
        return out

    def bind_all(self) -> dict[str, Any]:
        for name in self.declared:
            self.value(name)
        return self.values


    def value(self, name: str) -> Any:
        declared_name = self.by_lower.get(name.lower())
        if declared_name is None:
            raise TemplateError(INVALID_TEMPLATE, f"The template parameter '{name}' is not found. Please see "
                                "https://aka.ms/arm-syntax-parameters for usage details.")
        if declared_name in self.values:
            return self.values[declared_name]
        if declared_name in self._busy:
            raise TemplateError(INVALID_TEMPLATE, f"The default value of parameter '{declared_name}' refers to "
                                "itself (circular parameter reference).", target=f"parameters.{declared_name}")
        self._busy.add(declared_name)
        try:
            value = self._bind(declared_name)
        finally:
            self._busy.discard(declared_name)
        self.values[declared_name] = value
        return value

    def _bind(self, name: str) -> Any:
        schema = self.declared[name]
        if not isinstance(schema, dict):
            raise TemplateError(INVALID_TEMPLATE, f"The template parameter '{name}' must be declared as an object.",
                                target=f"parameters.{name}")
        try:
            resolved = self.checker.resolve(schema)
        except SchemaError as exc:
            raise TemplateError(INVALID_TEMPLATE, f"The template parameter '{name}' is not valid: {exc.message}",
                                target=f"parameters.{name}") from None
        if self.checker.kind(resolved) is None:
            raise TemplateError(INVALID_TEMPLATE, f"The template parameter '{name}' has no 'type'.",
                                target=f"parameters.{name}")
        value = self.supplied.get(name)
        if value is None and has_key_ci(resolved, "defaultValue"):
            value = self.evaluate_default(name, get_ci(resolved, "defaultValue"))
        elif name not in self.supplied and get_ci(resolved, "nullable") is not True:
            raise TemplateError(
                INVALID_TEMPLATE,
                f"The value for the template parameter '{name}' is not provided. Please see "
                "https://aka.ms/arm-create-parameter-file for usage details.",
                target=f"parameters.{name}",
            )
        if value is None and get_ci(resolved, "nullable") is not True and not has_key_ci(resolved, "defaultValue"):
            raise TemplateError(INVALID_TEMPLATE, f"The value for the template parameter '{name}' is not provided "
                                "(null was given).", target=f"parameters.{name}")
        if isinstance(value, float) and value.is_integer() and self.checker.kind(resolved) == "int":
            value = int(value)
        try:
            self.checker.check(value, resolved)
        except SchemaError as exc:
            where = f" at '{exc.where.lstrip('.')}'" if exc.where else ""
            shown = "***" if self.checker.is_secure(resolved) else _short(value)
            raise TemplateError(INVALID_TEMPLATE, f"The provided value '{shown}' for the template parameter '{name}' "
                                f"is not valid{where}. {exc.message}", target=f"parameters.{name}") from None
        return value

    def is_secure(self, name: str) -> bool:
        return self.checker.is_secure(self.declared[self.by_lower[name.lower()]])

    def echo(self) -> dict[str, dict[str, Any]]:
        """The parameters as a deployment echoes them: {name: {type, value}}, secure values left out."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.declared:
            schema = self.checker.resolve(self.declared[name])
            kind = self.checker.kind(schema) or "object"
            entry: dict[str, Any] = {"type": TYPE_NAMES.get(kind, kind)}
            if kind not in ("securestring", "secureobject") and name in self.values:
                entry["value"] = self.values[name]
            out[name] = entry
        return out


INVALID_TEMPLATE_DEPLOYMENT_KV = "InvalidTemplateDeployment"
