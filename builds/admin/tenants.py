"""Tenants in the admin, with their builds: running, waiting and queued counts next to their limits.

Registered from builds (tenants cannot know about builds); the counts are subqueries annotated on
the list's one query, so the page costs the same at 10 tenants or 100.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from builds.models import Build
from builds.states import Phase, in_phases
from tenants.admin import TenantAdmin
from tenants.models import Tenant


def _builds_in(*phases: Phase) -> Coalesce:
    counts = (
        Build.objects.filter(in_phases(phases), tenant=OuterRef("pk"))
        .order_by()
        .values("tenant")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


class TenantWithBuildsAdmin(TenantAdmin):
    list_display = ("name", "slug", "status", "running", "waiting", "queued", "created_at")

    def get_queryset(self, request) -> QuerySet[Tenant]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                running_builds=_builds_in(Phase.RUNNING),
                waiting_builds=_builds_in(Phase.WAITING),
                queued_builds=_builds_in(Phase.QUEUED),
            )
        )

    @admin.display(description="running / limit", ordering="running_builds")
    def running(self, tenant: Tenant) -> str:
        return f"{tenant.running_builds} / {tenant.running_build_limit}"

    @admin.display(description="waiting for a slot", ordering="waiting_builds")
    def waiting(self, tenant: Tenant) -> int:
        return tenant.waiting_builds

    @admin.display(description="queued / limit", ordering="queued_builds")
    def queued(self, tenant: Tenant) -> str:
        return f"{tenant.queued_builds} / {tenant.queued_build_limit}"


admin.site.unregister(Tenant)
admin.site.register(Tenant, TenantWithBuildsAdmin)
