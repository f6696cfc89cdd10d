"""Tenants, roles and memberships, plus the manager every tenant-owned model uses."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from tenants.roles import ALL_PERMISSIONS


class TenantStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    status = models.CharField(max_length=16, choices=TenantStatus, default=TenantStatus.ACTIVE)
    max_queued_builds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Queued builds allowed at once; empty = server default."
    )
    max_running_builds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Builds running at once; empty = server default."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.status == TenantStatus.SUSPENDED

    @property
    def queued_build_limit(self) -> int:
        return self.max_queued_builds or settings.DEFAULT_MAX_QUEUED_BUILDS

    @property
    def running_build_limit(self) -> int:
        return self.max_running_builds or settings.DEFAULT_MAX_RUNNING_BUILDS


class Role(models.Model):
    name = models.CharField(max_length=64, unique=True)
    permissions = models.JSONField(default=list, help_text="Permission strings, e.g. build:create")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = sorted(set(self.permissions or []) - set(ALL_PERMISSIONS))
        if unknown:
            raise ValidationError({"permissions": f"Unknown permissions: {', '.join(unknown)}"})

    @property
    def permission_set(self) -> frozenset[str]:
        return frozenset(self.permissions or [])


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


_Owned = TypeVar("_Owned", bound=models.Model)


class TenantQuerySet(models.QuerySet[_Owned]):
    def for_tenant(self, tenant: Tenant) -> TenantQuerySet[_Owned]:
        return self.filter(tenant=tenant)


# The one chokepoint for tenant data: views and selectors start from `objects.for_tenant(tenant)`.
TenantManager = models.Manager.from_queryset(TenantQuerySet)
