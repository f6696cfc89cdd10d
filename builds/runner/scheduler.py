"""Who runs next: each tenant's build slots, given to its waiting builds first come, first served."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from builds import jobs
from builds.logs.messages import system_entry
from builds.logs.store import append_lines
from builds.models import Build
from builds.states import Phase, transition
from tenants.models import Tenant

WAITING_MESSAGE = "waiting for a free build slot"


def first_in_line(tenant: Tenant) -> list[UUID]:
    """Ids of the waiting builds that the tenant's free slots go to: longest waiting first (FIFO)."""
    tenant_builds = Build.objects.for_tenant(tenant)
    free = tenant.running_build_limit - tenant_builds.filter(Phase.RUNNING.condition).count()
    if free <= 0:
        return []
    waiting = tenant_builds.filter(Phase.WAITING.condition).order_by("started_at", "id")
    return list(waiting.values_list("pk", flat=True)[:free])


def claim_slot(*, build_id: Any, worker: str) -> Build | None:
    """Gives the build a running slot if its tenant has one free and it is first in line.

    Returns None when the build is not (or no longer) waiting, or has to keep waiting.
    """
    with transaction.atomic():
        build = Build.objects.filter(Phase.WAITING.condition, pk=build_id).first()
        if build is None:
            return None
        # The tenant row lock serialises the slot count: two workers cannot both take the last slot.
        tenant = Tenant.objects.select_for_update().get(pk=build.tenant_id)
        if build.pk not in first_in_line(tenant):
            return None
        now = timezone.now()
        if not transition(build.pk, to=Phase.RUNNING, sources=[Phase.WAITING], worker=worker, heartbeat_at=now):
            return None
    build.refresh_from_db()
    return build


def note_waiting(build_id: Any) -> None:
    """Tells the build's watchers, once, that it waits for a slot."""
    first_time = (
        Build.objects.filter(Phase.WAITING.condition, pk=build_id)
        .exclude(step_name=WAITING_MESSAGE)
        .update(step_name=WAITING_MESSAGE)
    )
    if first_time:
        append_lines(
            build_id,
            [system_entry("All build slots of this tenant are busy; waiting for a free build slot", step="queue")],
        )


def hand_over_slots(tenant_id: Any) -> int:
    """Sends the tenant's waiting builds that now have a free slot to workers; returns how many."""
    waiting = first_in_line(Tenant.objects.get(pk=tenant_id))
    for build_id in waiting:
        jobs.queue_build(build_id)
    return len(waiting)
