"""The DRF permission class that applies the tenant rule (tenants/access.py) to every API view."""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission

from tenants.access import SESSION_TENANT_KEY, resolve_tenant_access

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
            tenant_header=tenant_header_of(request),
            write=method not in SAFE_METHODS,
            permission=view.required_permissions.get(method),
        )
        request.tenant = access.tenant
        request.tenant_access = access
        return True


def tenant_header_of(request) -> str | None:
    """The X-Tenant-ID header; for a browser session without it, the tenant chosen in the session.

    Only a session may fall back: a token client that omits the header gets the same 400 as ever,
    and a header, when sent, always wins.
    """
    header = request.headers.get("X-Tenant-ID")
    if header is None and isinstance(request.successful_authenticator, SessionAuthentication):
        return request.session.get(SESSION_TENANT_KEY)
    return header
