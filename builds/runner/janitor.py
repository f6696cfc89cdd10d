"""Cleaning up after workers that died: their orphaned processes, their lost builds, and old records.

A timer in every worker process (and in the embedded server), not a task on the build queue: it is
never stuck behind running builds, and it kills the orphans of a dead worker on its own host.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from builds import jobs
from builds.executors.process import kill_orphaned_processes
from builds.executors.sandbox import kill_orphaned_cgroups
from builds.logs.messages import system_entry
from builds.logs.store import close_log
from builds.models import Build, FailureKind, LogLevel
from builds.runner import scheduler
from builds.services.idempotency import purge_expired_records
from builds.states import Phase, transition
from imagefactory.core.jobs import Periodic

logger = logging.getLogger(__name__)


def start() -> None:
    """Starts this process's janitor timer once; its first pass runs at once (a restarted worker
    cleans up after its predecessor)."""
    _timer.start()


def sweep() -> None:
    """One pass: orphaned processes here, lost builds, waiting builds with free slots, old keys."""
    orphans = kill_orphaned_processes()
    if orphans:
        logger.warning("killed %d build processes left behind by a dead worker", orphans)
    orphaned_steps = kill_orphaned_cgroups()
    if orphaned_steps:
        logger.warning("killed the sandboxed RUN steps of %d builds of a dead worker", orphaned_steps)
    lost_before = timezone.now() - timedelta(seconds=settings.BUILD_LOST_AFTER_SECONDS)
    for build in reap_lost_builds(lost_before=lost_before):
        logger.warning("reaped build %s of worker %s", build.pk, build.worker)
    # A safety net for a lost wake-up: only for builds that have waited a while. A fresh one is
    # still on its way to a worker, or is taken by the next worker that ends a build.
    if scheduler.stranded(waiting_before=lost_before):
        jobs.wake_a_worker()
    purge_expired_records()


def reap_lost_builds(*, lost_before: datetime) -> list[Build]:
    """Ends running builds whose worker stopped heartbeating as failed/worker_lost."""
    reaped = []
    for build in Build.objects.filter(Phase.RUNNING.condition, heartbeat_at__lt=lost_before):
        message = (
            f"Worker {build.worker or 'unknown'} stopped reporting (last heartbeat "
            f"{build.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); the build was abandoned. Retry it."
        )
        won = transition(
            build.pk,
            to=Phase.FAILED,
            sources=[Phase.RUNNING],
            where=Q(heartbeat_at__lt=lost_before),
            completed_at=timezone.now(),
            error_message=message,
            failure_kind=FailureKind.WORKER_LOST,
        )
        if won:
            build.refresh_from_db()
            close_log(build.pk, build.status, [system_entry(message, level=LogLevel.ERROR)])
            reaped.append(build)
    return reaped


_timer = Periodic("build-janitor", sweep, interval=lambda: settings.BUILD_REAPER_INTERVAL_SECONDS, at_start=True)
