"""The X-Tenant-ID rule, written once; used by the HTTP permission and the WebSocket consumer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from imagefactory.core.context import tenant_id_var, user_id_var
from imagefactory.core.errors import Forbidden, InvalidRequest, Unauthorized
from tenants.access_cache import Access, cached_access
from tenants.models import Membership, Tenant
from tenants.roles import ALL_PERMISSIONS, SYSTEM_ADMIN_ROLE

NO_TENANT_ACCESS = "You do not have access to this tenant"
# The session key of the tenant a browser chose (web UI, browsable API): its stand-in for X-Tenant-ID.
SESSION_TENANT_KEY = "imagefactory.tenant_id"


@dataclass(frozen=True)
class TenantAccess:
    tenant: Tenant
    role: str
    permissions: frozenset[str]

    def has(self, permission: str) -> bool:
        return permission in self.permissions


def parse_tenant_header(value: str | None) -> uuid.UUID:
    if value is None or not value.strip():
        raise InvalidRequest(
            "X-Tenant-ID header is required",
            details={"header": "X-Tenant-ID", "reason": "missing"},
        )
    try:
        tenant_id = uuid.UUID(value.strip())
    except ValueError:
        raise InvalidRequest(
            "X-Tenant-ID must be a tenant UUID",
            details={"header": "X-Tenant-ID", "reason": "not_a_uuid"},
        ) from None
    if tenant_id.int == 0:
        raise InvalidRequest(
            "X-Tenant-ID must not be the nil UUID",
            details={"header": "X-Tenant-ID", "reason": "nil_uuid"},
        )
    return tenant_id


def _load_access(user, tenant_id: uuid.UUID) -> Access | None:
    """From the database: the tenant and the user's role in it (None, None for a superuser who is
    no member); None when the user may not enter it."""
    membership = Membership.objects.select_related("tenant", "role").filter(user=user, tenant_id=tenant_id).first()
    if membership is not None:
        return membership.tenant, membership.role.name, membership.role.permission_set
    if user.is_superuser and (tenant := Tenant.objects.filter(pk=tenant_id).first()) is not None:
        return tenant, None, None
    return None


def resolve_tenant_access(*, user, tenant_header: str | None, write: bool, permission: str | None) -> TenantAccess:
    """Applies the rule table in order: 401, 400, 403 membership, 403 suspended, 403 permission."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise Unauthorized("Authentication credentials were not provided or are invalid")
    user_id_var.set(str(user.pk))
    tenant_id = parse_tenant_header(tenant_header)

    access = cached_access(user.pk, tenant_id, lambda: _load_access(user, tenant_id))
    if access is None or (access[1] is None and not user.is_superuser):
        # Unknown tenant and foreign tenant answer identically: no existence oracle.
        raise Forbidden(NO_TENANT_ACCESS)
    tenant, role, permissions = access
    if user.is_superuser:
        role, permissions = role or SYSTEM_ADMIN_ROLE, frozenset(ALL_PERMISSIONS)
    assert role is not None and permissions is not None

    tenant_id_var.set(str(tenant.id))
    if write and tenant.is_suspended:
        raise Forbidden("Tenant is suspended; it is read-only", details={"reason": "tenant_suspended"})
    if permission is not None and permission not in permissions:
        raise Forbidden(f"Your role lacks the permission {permission}", details={"permission": permission})
    return TenantAccess(tenant=tenant, role=role, permissions=permissions)
