"""ARM's error envelope: `{"error": {"code", "message", "target", "details", "additionalInfo"}}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ArmError(Exception):
    """An error that becomes an ARM error response with the given HTTP status."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None,
                 details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}
        self.additional_info: list[dict[str, Any]] | None = None

    def body(self) -> dict[str, Any]:
        detail = error_detail(self.code, self.message, self.target, self.details)
        if self.additional_info:
            detail["additionalInfo"] = self.additional_info
        return {"error": detail}


def error_detail(code: str, message: str, target: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        detail["target"] = target
    if details:
        detail["details"] = details
    return detail


def not_found(resource_type: str, name: str, group: str | None) -> ArmError:
    where = f" under resource group '{group}'" if group else ""
    return resource_not_found(f"The Resource '{resource_type}/{name}'{where} was not found. "
                              "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def group_not_found(group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")


def parent_not_found(parent_type: str, parent_name: str) -> ArmError:
    return ArmError(404, "ParentResourceNotFound",
                    f"Can not perform requested operation on nested resource. Parent resource "
                    f"'{parent_name}' of type '{parent_type}' not found.")


# ---- the catalogue: one factory per error code the emulator answers in more than one place ----------
def _factory(status: int, code: str, doc: str) -> Callable[..., ArmError]:
    def make(message: str, target: str | None = None, **extra: Any) -> ArmError:
        return ArmError(status, code, message, target, **extra)

    make.__doc__ = f"{status} `{code}`: {doc}"
    return make


resource_not_found = _factory(404, "ResourceNotFound", "a resource (or the scope it lives at) that does not exist")
invalid_content = _factory(400, "InvalidRequestContent",
                           "a body that does not validate (the target names the property)")
location_required = _factory(400, "LocationRequired", "a tracked resource or group without `location`")
linked_resource_not_found = _factory(404, "LinkedResourceNotFound", "a property names a resource that does not exist")
linked_identity_not_assigned = _factory(400, "LinkedIdentityNotAssigned", "a link names an identity the resource lacks")
linked_invalid_property_id = _factory(400, "LinkedInvalidPropertyId", "a property holds no id of the expected type")
invalid_resource_id = _factory(400, "InvalidResourceId", "a path or id that is not an ARM resource id")
conflict = _factory(409, "Conflict", "the resource's state forbids the change (a delete guard, a delete in progress)")
precondition_failed = _factory(412, "PreconditionFailed", "`If-Match` / `If-None-Match` not met")
path_not_found = _factory(404, "NotFound", "a path or action the emulator does not serve")
method_not_allowed = _factory(405, "MethodNotAllowed", "an HTTP method the resource does not support")
operation_not_allowed = _factory(400, "OperationNotAllowed",
                                 "an action that does not apply to the resource as configured")
invalid_sku = _factory(400, "InvalidSku", "a SKU the type (or the api-version) does not offer")
invalid_parameter = _factory(400, "InvalidParameter", "a query parameter that does not parse")
invalid_content_link = _factory(400, "InvalidContentLink", "a template or parameters link (the emulator is offline)")
operation_not_found = _factory(404, "OperationNotFound", "an unknown long-running operation id")
invalid_authentication_token = _factory(401, "InvalidAuthenticationToken",
                                        "a bearer token that is malformed or expired")
authentication_failed = _factory(401, "AuthenticationFailed", "no usable credentials")
