"""Reads about tenants and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.models import Membership, Tenant
from tenants.roles import ALL_PERMISSIONS


def memberships_of(user) -> list[dict]:
    memberships = Membership.objects.filter(user=user).select_related("tenant", "role").order_by("tenant__name")
    return [
        {
            "tenant_id": m.tenant_id,
            "tenant_name": m.tenant.name,
            "role": m.role.name,
            "permissions": sorted(ALL_PERMISSIONS if user.is_superuser else m.role.permission_set),
        }
        for m in memberships
    ]


def members_of(tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user", "role").order_by("created_at", "id")


def tenants_choosable_by(user) -> QuerySet[Tenant]:
    """The tenants a user may act in: their memberships; every tenant for a system administrator."""
    if user.is_superuser:
        return Tenant.objects.order_by("name")
    return Tenant.objects.filter(memberships__user=user).order_by("name")
