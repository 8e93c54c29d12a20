"""ARM's error envelope: `{"error": {"code", "message", "target", "details", "additionalInfo"}}`."""

from __future__ import annotations

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
    return ArmError(404, "ResourceNotFound",
                    f"The Resource '{resource_type}/{name}'{where} was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def group_not_found(group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")


def parent_not_found(parent_type: str, parent_name: str) -> ArmError:
    return ArmError(404, "ParentResourceNotFound",
                    f"Can not perform requested operation on nested resource. Parent resource "
                    f"'{parent_name}' of type '{parent_type}' not found.")




