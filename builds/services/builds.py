"""Build writes on behalf of the API: create, start, cancel, retry, delete.

Every move of a build goes through builds.states.transition (one conditional UPDATE), so of two
racing requests exactly one wins; the loser gets 409 with the status it lost to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from builds import jobs, signals
from builds.logs.messages import system_entry
from builds.logs.store import close_log
from builds.models import Build, BuildStatus, LogLevel, Project
from builds.states import (
    CANCEL_FROM,
    DELETE_FROM,
    RETRY_FROM,
    START_FROM,
    Phase,
    in_phases,
    statuses,
    transition,
    worker_writes_the_end,
)
from imagefactory.core.errors import Conflict, NotFound, RateLimited
from tenants.models import Tenant

logger = logging.getLogger(__name__)

NOT_RUNNING = frozenset({Phase.QUEUED, Phase.WAITING})


def _refusal(build_id: Any, action: str, allowed: Iterable[Phase]) -> Conflict | NotFound:
    """The error for a refused move: 409 with the current status, or 404 if the build is gone."""
    current = Build.objects.filter(pk=build_id).values_list("status", flat=True).first()
    if current is None:
        return NotFound("Build not found")
    return Conflict(
        f"Cannot {action} a build that is {current}; allowed from: {', '.join(statuses(allowed))}",
        details={"status": current, "action": action},
    )


@transaction.atomic
def create_build(
    *,
    tenant: Tenant,
    project: Project,
    user: Any,
    git_branch: str,
    git_commit: str | None = None,
    build_args: dict[str, str] | None = None,
    retry_of: Build | None = None,
    trigger_id: Any = None,
    trigger_delivery_id: str | None = None,
    triggered_by: str | None = None,
) -> Build:
    # The tenant row lock serialises the queue-limit check; the project row lock the counter. NO KEY:
    # a plain FOR UPDATE would also block the foreign-key checks (KEY SHARE on the tenant) that other
    # transactions' build writes make at commit while holding build and count rows: a deadlock.
    tenant = Tenant.objects.select_for_update(no_key=True).get(pk=tenant.pk)
    queued = Build.objects.for_tenant(tenant).filter(status=BuildStatus.QUEUED).count()
    if queued >= tenant.queued_build_limit:
        raise RateLimited(
            f"The tenant already has {queued} queued builds (limit {tenant.queued_build_limit}); "
            "start or cancel some first",
            retry_after=30,
            details={"reason": "queue_full", "limit": tenant.queued_build_limit},
        )
    if not Project.objects.filter(pk=project.pk).update(build_counter=F("build_counter") + 1):
        raise NotFound("Project not found")  # deleted since the request looked it up
    number = Project.objects.filter(pk=project.pk).values_list("build_counter", flat=True).get()
    build = Build.objects.create(
        tenant=tenant,
        project=project,
        build_number=number,
        git_branch=git_branch,
        git_commit=git_commit or None,
        build_args=build_args or {},
        created_by=user,
        retry_of=retry_of,
        trigger_id=trigger_id,
        trigger_delivery_id=trigger_delivery_id,
        triggered_by=triggered_by,
    )
    signals.build_changed.send(sender=Build, build_id=build.pk, event=signals.BUILD_CREATED)
    return build


def start_build(*, build: Build, user: Any) -> Build:
    with transaction.atomic():
        now = timezone.now()
        if not transition(build.pk, to=Phase.WAITING, sources=START_FROM, started_at=now, heartbeat_at=now):
            raise _refusal(build.pk, "start", START_FROM)
        # robust: the start is committed whatever the broker says; if no worker hears of it, the
        # janitor wakes one after BUILD_LOST_AFTER_SECONDS, and any worker that ends a build takes it.
        transaction.on_commit(jobs.wake_a_worker, robust=True)
    build.refresh_from_db()
    logger.info("build %s started by %s", build.pk, getattr(user, "pk", None))
    return build


def cancel_build(*, build: Build, user: Any, reason: str | None = None) -> Build:
    reason = (reason or "").strip() or "Cancelled by user"
    with transaction.atomic():
        if not _cancel(build, reason=reason, sources=CANCEL_FROM, who=getattr(user, "email", "a user")):
            raise _refusal(build.pk, "cancel", CANCEL_FROM)
    return build


def cancel_unstarted_builds(*, builds: Iterable[Build], reason: str, who: str) -> list[Build]:
    """Cancels those of `builds` no worker runs yet (queued, or waiting for a slot); the others go on.

    A build that a worker claims meanwhile loses nothing: the move is the same conditional UPDATE.
    Returns the builds this call cancelled.
    """
    cancelled = []
    for build in builds:
        with transaction.atomic():
            if _cancel(build, reason=reason, sources=NOT_RUNNING, who=who):
                cancelled.append(build)
    return cancelled


def _cancel(build: Build, *, reason: str, sources: Iterable[Phase], who: str) -> bool:
    """One cancel (inside the caller's transaction): the move, then the last log line if no worker writes it."""
    if not transition(
        build.pk,
        to=Phase.CANCELLED,
        sources=sources,
        completed_at=timezone.now(),
        cancel_reason=reason,
        error_message=None,
    ):
        return False
    build.refresh_from_db()
    if not worker_writes_the_end(build.status, build.slot_acquired_at):
        # No worker holds it (queued, or waiting for a slot): the API writes the last line.
        close_log(build.pk, build.status, [system_entry(f"Build cancelled by {who}: {reason}", level=LogLevel.WARN)])
    # Otherwise the worker notices within BUILD_CANCEL_POLL_SECONDS, stops the process tree,
    # writes its last lines and ends the log.
    return True


@transaction.atomic
def retry_build(*, build: Build, user: Any) -> Build:
    # The original's row lock comes first, as in delete_build: a delete racing the retry waits (or
    # wins and the retry answers 404). Without it, the retry's foreign key to the original, checked
    # at commit, and the delete's check for rows referring to it waited for each other: a deadlock.
    locked = Build.objects.select_for_update(no_key=True).filter(in_phases(RETRY_FROM), pk=build.pk)
    if locked.values_list("pk", flat=True).first() is None:
        raise _refusal(build.pk, "retry", RETRY_FROM)
    try:
        return create_build(
            tenant=build.tenant,
            project=build.project,
            user=user,
            git_branch=build.git_branch,
            git_commit=build.git_commit,
            build_args=build.build_args,
            retry_of=build,
        )
    except IntegrityError:
        retried = Build.objects.filter(retry_of=build).values_list("pk", flat=True).first()
        raise Conflict(
            "This build has already been retried", details={"status": build.status, "retried_by": str(retried)}
        ) from None


@transaction.atomic
def delete_build(*, build: Build) -> None:
    locked = Build.objects.select_for_update().filter(in_phases(DELETE_FROM), pk=build.pk).first()
    if locked is None:
        raise _refusal(build.pk, "delete", DELETE_FROM)
    locked.delete()
