"""The tenant rule for the web UI's pages: the session's tenant through tenants.access, like the API."""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from imagefactory.core.errors import ApiError
from tenants.access import SESSION_TENANT_KEY, TenantAccess, resolve_tenant_access


def session_tenant_access(request, *, permission: str | None, write: bool = False) -> TenantAccess:
    """The same rule table as X-Tenant-ID (membership, suspension, permission); raises its ApiErrors."""
    return resolve_tenant_access(
        user=request.user,
        tenant_header=request.session.get(SESSION_TENANT_KEY),
        write=write,
        permission=permission,
    )


def tenant_page(permission: str, *, write: bool = False):
    """A page in the chosen tenant: login first, then the tenant rule; sets request.tenant_access.

    No tenant chosen yet (or one no longer allowed): a page that asks to choose one, with the
    rule's status (400 or 403), never a stack trace.
    """

    def decorate(view):
        @login_required
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                request.tenant_access = session_tenant_access(request, permission=permission, write=write)
            except ApiError as refusal:
                return render(
                    request,
                    "web/refused.html",
                    {"message": refusal.message, "no_tenant": refusal.status_code == 400},
                    status=refusal.status_code,
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
