"""Marshmallow building blocks shared by every resource type, and body loading with ARM errors.

Field attribute names are the JSON names, so a loaded body needs no renaming. Unknown fields are
dropped (ARM RPs ignore read-only and unknown properties a client echoes back from a GET).
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from provider.arm.errors import invalid_content


class BaseSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class Tags(fields.Dict):
    """ARM tags: at most 50 string values, names up to 512 and values up to 256 characters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(validate=validate.Length(min=1, max=512)),
                         values=fields.String(validate=validate.Length(max=256)),
                         validate=validate.Length(max=50), **kwargs)


class TrackedBody(BaseSchema):
    """Envelope of a tracked resource: `location` and `tags`."""

    location = fields.String(validate=validate.Length(min=1))
    tags = Tags()


class TagsPatch(BaseSchema):
    """The common PATCH body that can only change tags."""

    tags = Tags()


class SystemAssignedIdentity(BaseSchema):
    type = fields.String(required=True, validate=validate.OneOf(["None", "SystemAssigned"]))


class ManagedIdentity(BaseSchema):
    """`SystemAssigned`, `UserAssigned`, both, or `None`, with user-assigned ids as keys."""

    type = fields.String(required=True, validate=validate.OneOf(
        ["None", "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned", "SystemAssigned, UserAssigned"]))
    userAssignedIdentities = fields.Dict(keys=fields.String(), values=fields.Dict(allow_none=True), allow_none=True)


def _first_error(messages: Any, path: list[str]) -> tuple[str, str]:
    """The first leaf of marshmallow's nested error dict, as (dotted path, message)."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                return _first_error(value, path)
            if key in ("value", "key") and path and isinstance(value, (dict, list)):
                return _first_error(value, path)  # fields.Dict nests errors under value/key
            return _first_error(value, [*path, str(key)])
    if isinstance(messages, list) and messages:
        if isinstance(messages[0], (dict, list)):
            return _first_error(messages[0], path)
        return ".".join(path), str(messages[0])
    return ".".join(path), str(messages)


def load_body(schema_cls: type[Schema] | None, body: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate a request body; a problem becomes 400 with the offending property as `target`."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise invalid_content("The request content must be a JSON object.")
    if schema_cls is None:  # a type without a schema (generic resources): still check the envelope's shape
        for name, kind, label in (("properties", dict, "an object"), ("tags", dict, "an object"),
                                  ("location", str, "a string")):
            if body.get(name) is not None and not isinstance(body[name], kind):
                raise invalid_content(
                    f"The request content was invalid: property '{name}' must be {label}.", target=name)
        if isinstance(body.get("tags"), dict) and not all(isinstance(v, str) for v in body["tags"].values()):
            raise invalid_content("The request content was invalid: tag values must be "
                                  "strings.", target="tags")
        return dict(body)
    try:
        return schema_cls().load(body, partial=partial)
    except ValidationError as exc:
        target, message = _first_error(exc.messages, [])
        if message == "Unknown field.":
            message = "Unknown property."
        raise invalid_content(
            f"The request content was invalid: property '{target}': {message}", target=target) from exc
