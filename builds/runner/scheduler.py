"""Who runs next: a fair share of the workers between tenants, first come first served within one.

Workers pull. Starting a build only wakes a worker (builds/jobs.py); a free worker then takes the
build that is next in line, and after each build it takes the next one, until none is left. Next
in line is the longest-waiting build of the tenant with the fewest running builds, among tenants
below their own limit of running builds (the fair-usage queue of shared CI runners); between
tenants running as many, the one served longest ago goes first (round robin). So a tenant with
twenty builds waiting makes another tenant's single build wait for one free worker at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from builds.logs.messages import system_entry
from builds.logs.store import append_lines
from builds.models import Build, BuildCount, BuildStatus
from builds.states import Phase, transition
from tenants.models import Tenant

WAITING_MESSAGE = "waiting for a free build slot"
CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class Candidate:
    build_id: UUID
    tenant_id: UUID
    running: int
    last_served: datetime | None  # when the tenant's latest build got its slot
    started_at: datetime | None

    def order(self) -> tuple[int, float, float, str]:
        never = float("-inf")
        return (
            self.running,
            self.last_served.timestamp() if self.last_served else never,
            self.started_at.timestamp() if self.started_at else never,
            str(self.build_id),
        )


def running_per_tenant(tenant_ids: Iterable[UUID] | None = None) -> dict[UUID, int]:
    rows = Build.objects.filter(Phase.RUNNING.condition)
    if tenant_ids is not None:
        rows = rows.filter(tenant_id__in=list(tenant_ids))
    return {row["tenant_id"]: row["n"] for row in rows.values("tenant_id").annotate(n=Count("id"))}


def next_in_line() -> list[Candidate]:
    """The builds that may take a free worker now, the first one first.

    One per tenant (its longest-waiting build) and only from tenants below their running limit,
    ordered by how many builds the tenant runs, then by how long the build has waited.

    Only tenants with builds in progress are looked at (the counts say which), and each one's head
    is one seek in the waiting line's index: the cost does not grow with the number of waiting
    builds (a window over all of them took 0.5 s per claim with 200,000 waiting).
    """
    line = Build.objects.filter(Phase.WAITING.condition, tenant_id=OuterRef("pk")).order_by("started_at", "id")
    latest_slot = (
        Build.objects.filter(tenant=OuterRef("pk"), slot_acquired_at__isnull=False)
        .order_by("-slot_acquired_at")
        .values("slot_acquired_at")[:1]
    )
    busy = BuildCount.objects.filter(status=BuildStatus.IN_PROGRESS, count__gt=0).values("tenant_id")
    tenants = list(
        Tenant.objects.filter(pk__in=busy)
        .annotate(
            head_id=Subquery(line.values("pk")[:1]),
            head_started_at=Subquery(line.values("started_at")[:1]),
            last_served=Subquery(latest_slot),
        )
        .filter(head_id__isnull=False)
    )
    if not tenants:
        return []
    running = running_per_tenant(t.pk for t in tenants)
    candidates = [
        Candidate(t.head_id, t.pk, running.get(t.pk, 0), t.last_served, t.head_started_at)
        for t in tenants
        if running.get(t.pk, 0) < t.running_build_limit
    ]
    return sorted(candidates, key=Candidate.order)


def claim_next(*, worker: str) -> Build | None:
    """Gives the next build in line a running slot and returns it; None when no build may run now."""
    for _ in range(CLAIM_ATTEMPTS):  # another worker may take a candidate first: look again
        candidates = next_in_line()
        if not candidates:
            return None
        for candidate in candidates:
            build = _claim(candidate, worker)
            if build is not None:
                return build
    return None


def _claim(candidate: Candidate, worker: str) -> Build | None:
    with transaction.atomic():
        # The tenant row lock serialises the slot count: two workers cannot both take its last slot.
        # NO KEY: it must not block the foreign-key checks of other transactions' build writes,
        # which take KEY SHARE on the tenant at commit while holding their builds' rows.
        tenant = Tenant.objects.select_for_update(no_key=True).get(pk=candidate.tenant_id)
        running = Build.objects.for_tenant(tenant).filter(Phase.RUNNING.condition).count()
        if running >= tenant.running_build_limit:
            return None
        now = timezone.now()
        if not transition(
            candidate.build_id, to=Phase.RUNNING, sources=[Phase.WAITING], worker=worker, heartbeat_at=now
        ):
            return None  # cancelled, or taken by another worker meanwhile
    return Build.objects.get(pk=candidate.build_id)


def note_waiting() -> None:
    """Tells the watchers of builds waiting behind their tenant's limit, once each, that they wait."""
    running = running_per_tenant()
    full = [t.pk for t in Tenant.objects.filter(pk__in=list(running)) if running[t.pk] >= t.running_build_limit]
    waiting = Build.objects.filter(Phase.WAITING.condition, tenant_id__in=full).exclude(step_name=WAITING_MESSAGE)
    for build_id in list(waiting.values_list("pk", flat=True)):
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


def stranded(*, waiting_before: datetime) -> bool:
    """True when a build that may run has waited since before `waiting_before` (a wake-up was lost)."""
    return any(c.started_at is not None and c.started_at < waiting_before for c in next_in_line())
