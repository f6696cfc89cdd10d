"""Permission strings, built-in roles, and the DRF permission that applies the tenant rule."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

BUILD_CREATE = "build:create"
BUILD_LIST = "build:list"
BUILD_READ = "build:read"
BUILD_DELETE = "build:delete"
BUILD_CANCEL = "build:cancel"
PROJECT_CREATE = "project:create"
PROJECT_LIST = "project:list"
PROJECT_READ = "project:read"
PROJECT_UPDATE = "project:update"
PROJECT_DELETE = "project:delete"
MEMBER_LIST = "member:list"
MEMBER_MANAGE = "member:manage"

ALL_PERMISSIONS = (
    BUILD_CREATE, BUILD_LIST, BUILD_READ, BUILD_DELETE, BUILD_CANCEL,
    PROJECT_CREATE, PROJECT_LIST, PROJECT_READ, PROJECT_UPDATE, PROJECT_DELETE,
    MEMBER_LIST, MEMBER_MANAGE,
)  # fmt: skip

BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "owner": ALL_PERMISSIONS,
    "developer": (
        BUILD_CREATE, BUILD_LIST, BUILD_READ, BUILD_CANCEL,
        PROJECT_CREATE, PROJECT_LIST, PROJECT_READ, PROJECT_UPDATE, MEMBER_LIST,
    ),  # fmt: skip
    "viewer": (BUILD_LIST, BUILD_READ, PROJECT_LIST, PROJECT_READ, MEMBER_LIST),
}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TenantPermission(BasePermission):
    """Applies the X-Tenant-ID rule and the view's `required_permissions[method]`.

    Views declare e.g. ``required_permissions = {"GET": BUILD_LIST, "POST": BUILD_CREATE}``.
    On success the view finds ``request.tenant`` and ``request.tenant_access``.
    """

    def has_permission(self, request, view) -> bool:
        from tenants.access import resolve_tenant_access

        # Django answers HEAD with the GET handler, so HEAD needs GET's permission.
        method = "GET" if request.method == "HEAD" else request.method
        access = resolve_tenant_access(
            user=request.user,
            tenant_header=request.headers.get("X-Tenant-ID"),
            write=method not in SAFE_METHODS,
            permission=view.required_permissions.get(method),
        )
        request.tenant = access.tenant
        request.tenant_access = access
        return True
