"""Build figures the database knows, read at scrape time for /metrics (one grouped query per scrape).

Counters kept by the processes that move builds would drift (a crashed worker, a build deleted,
any number of workers on other hosts); the rows never do.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily, Metric

from builds.models import BuildStatus
from tenants.models import Tenant

_IN_PROGRESS = Q(builds__status=BuildStatus.IN_PROGRESS)
COUNTS = {
    "queued": Q(builds__status=BuildStatus.QUEUED),
    "waiting": _IN_PROGRESS & Q(builds__slot_acquired_at__isnull=True),
    "running": _IN_PROGRESS & Q(builds__slot_acquired_at__isnull=False),
    "success": Q(builds__status=BuildStatus.SUCCESS),
    "failed": Q(builds__status=BuildStatus.FAILED),
    "cancelled": Q(builds__status=BuildStatus.CANCELLED),
}


def collect() -> Iterator[Metric]:
    by_status = GaugeMetricFamily(
        "imagefactory_builds", "Builds by tenant and status (the rows now)", labels=("tenant_id", "status")
    )
    queue_depth = GaugeMetricFamily(
        "imagefactory_build_queue_depth",
        "Builds not running yet, by tenant: state=queued (created, not started; the max_queued_builds limit) "
        "and state=waiting (started, waiting for a free build slot)",
        labels=("tenant_id", "state"),
    )
    running = GaugeMetricFamily(
        "imagefactory_builds_running", "Builds a worker runs now, by tenant", labels=("tenant_id",)
    )
    # Every tenant, also those without builds: a series that vanishes is not a zero on a graph.
    rows = (
        Tenant.objects.order_by()
        .annotate(**{name: Count("builds", filter=condition) for name, condition in COUNTS.items()})
        .values("id", *COUNTS)
    )
    for row in rows:
        tenant_id = str(row["id"])
        for status in BuildStatus.values:
            count = row["waiting"] + row["running"] if status == BuildStatus.IN_PROGRESS else row[status]
            by_status.add_metric([tenant_id, status], count)
        queue_depth.add_metric([tenant_id, "queued"], row["queued"])
        queue_depth.add_metric([tenant_id, "waiting"], row["waiting"])
        running.add_metric([tenant_id], row["running"])
    yield from (by_status, queue_depth, running)
