"""The DRF permission class that applies the tenant rule (tenants/access.py) to every API view."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from tenants.access import resolve_tenant_access

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TenantPermission(BasePermission):
    """Applies the X-Tenant-ID rule and the view's `required_permissions[method]`.

    Views declare e.g. ``required_permissions = {"GET": BUILD_LIST, "POST": BUILD_CREATE}``.
    On success the view finds ``request.tenant`` and ``request.tenant_access``.
    """

    def has_permission(self, request, view) -> bool:
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
