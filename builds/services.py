"""Build writes: every state change is a compare-and-swap UPDATE on the build row."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from builds import events
from builds.logstore import append_log_lines
from builds.models import TERMINAL_STATES, TRANSITIONS, Build, BuildStatus, FailureKind, Project
from imagefactory.core.errors import Conflict, NotFound, RateLimited
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def _conflict(build_id, action: str) -> Conflict | NotFound:
    """The error for a refused transition: 409 with the current status, or 404 if the build is gone."""
    current = Build.objects.filter(pk=build_id).values_list("status", flat=True).first()
    if current is None:
        return NotFound("Build not found")
    allowed = ", ".join(sorted(TRANSITIONS[action]))
    return Conflict(
        f"Cannot {action} a build that is {current}; allowed from: {allowed}",
        details={"status": current, "action": action},
    )


def _swap(build: Build, *, action: str, **changes) -> Build:
    """UPDATE … WHERE id = build AND status IN allowed-from; exactly one racer wins."""
    changes.setdefault("updated_at", timezone.now())
    won = Build.objects.filter(pk=build.pk, status__in=TRANSITIONS[action]).update(**changes)
    if not won:
        raise _conflict(build.pk, action)
    build.refresh_from_db()
    return build


@transaction.atomic
def create_build(*, tenant: Tenant, project: Project, user, git_branch: str, git_commit: str | None = None,
                 build_args: dict[str, str] | None = None, retry_of: Build | None = None) -> Build:
    # The tenant row lock serialises the queue-limit check; the project row lock the counter.
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    queued = Build.objects.for_tenant(tenant).filter(status=BuildStatus.QUEUED).count()
    if queued >= tenant.queued_build_limit:
        raise RateLimited(
            f"The tenant already has {queued} queued builds (limit {tenant.queued_build_limit}); "
            "start or cancel some first",
            retry_after=30,
            details={"reason": "queue_full", "limit": tenant.queued_build_limit},
        )
    Project.objects.filter(pk=project.pk).update(build_counter=F("build_counter") + 1)
    number = Project.objects.filter(pk=project.pk).values_list("build_counter", flat=True).get()
    return Build.objects.create(
        tenant=tenant,
        project=project,
        build_number=number,
        git_branch=git_branch,
        git_commit=git_commit or None,
        build_args=build_args or {},
        created_by=user,
        retry_of=retry_of,
    )


def start_build(*, build: Build, user) -> Build:
    from builds.dispatch import dispatch_build

    with transaction.atomic():
        build = _swap(build, action="start", status=BuildStatus.IN_PROGRESS, started_at=timezone.now(),
                      heartbeat_at=timezone.now())
        # robust: the start is committed whatever the broker says; a build whose dispatch was
        # lost waits in line and the reaper hands it to a worker (BUILD_LOST_AFTER_SECONDS).
        transaction.on_commit(lambda: dispatch_build(build.pk), robust=True)
    logger.info("build %s started by %s", build.pk, getattr(user, "pk", None))
    return build


def cancel_build(*, build: Build, user, reason: str | None = None) -> Build:
    reason = (reason or "").strip() or "Cancelled by user"
    with transaction.atomic():
        build = _swap(build, action="cancel", status=BuildStatus.CANCELLED, completed_at=timezone.now(),
                      cancel_reason=reason, error_message=None)
    who = getattr(user, "email", "a user")
    if build.slot_acquired_at is None:
        # No worker holds it (queued, or waiting for a slot): the API writes the last line.
        append_log_lines(build.pk, [events.system_line(f"Build cancelled by {who}: {reason}", level="WARN")])
        transaction.on_commit(lambda: events.publish_finished(build))  # after that line is readable
    # Otherwise the worker notices within BUILD_CANCEL_POLL_SECONDS, stops the process tree,
    # writes its last lines and publishes the end of the stream.
    return build


def retry_build(*, build: Build, user) -> Build:
    if build.status not in TRANSITIONS["retry"]:
        raise _conflict(build.pk, "retry")
    try:
        return create_build(tenant=build.tenant, project=build.project, user=user, git_branch=build.git_branch,
                            git_commit=build.git_commit, build_args=build.build_args, retry_of=build)
    except IntegrityError:
        retried = Build.objects.filter(retry_of=build).values_list("pk", flat=True).first()
        raise Conflict("This build has already been retried", details={"status": build.status,
                       "retried_by": str(retried)}) from None


@transaction.atomic
def delete_build(*, build: Build) -> None:
    locked = Build.objects.select_for_update().filter(pk=build.pk, status__in=TRANSITIONS["delete"]).first()
    if locked is None:
        raise _conflict(build.pk, "delete")
    locked.delete()


# --- Engine side ---------------------------------------------------------------------------

def _first_in_line(tenant: Tenant) -> list:
    """Ids of the waiting builds that the tenant's free slots go to: longest waiting first (FIFO)."""
    in_progress = Build.objects.for_tenant(tenant).filter(status=BuildStatus.IN_PROGRESS)
    free = tenant.running_build_limit - in_progress.filter(slot_acquired_at__isnull=False).count()
    if free <= 0:
        return []
    waiting = in_progress.filter(slot_acquired_at__isnull=True).order_by("started_at", "id")
    return list(waiting.values_list("pk", flat=True)[:free])


def claim_build_slot(*, build_id, worker: str) -> Build | None:
    """Gives the build a running slot if its tenant has one free and it is first in line (FIFO).

    Returns None when the build is not (or no longer) waiting, or has to keep waiting.
    """
    with transaction.atomic():
        build = Build.objects.select_related("tenant").filter(pk=build_id).first()
        if build is None or build.status != BuildStatus.IN_PROGRESS or build.slot_acquired_at is not None:
            return None
        tenant = Tenant.objects.select_for_update().get(pk=build.tenant_id)
        if build.pk not in _first_in_line(tenant):
            return None
        now = timezone.now()
        won = Build.objects.filter(pk=build.pk, status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=True).update(
            slot_acquired_at=now, heartbeat_at=now, worker=worker, updated_at=now
        )
    if not won:
        return None
    build.refresh_from_db()
    return build


def heartbeat(*, build_id) -> bool:
    """Stamps the heartbeat; False when the build is no longer running (cancelled, reaped)."""
    now = timezone.now()
    return bool(Build.objects.filter(pk=build_id, status=BuildStatus.IN_PROGRESS).update(heartbeat_at=now))


def is_still_running(*, build_id) -> bool:
    return Build.objects.filter(pk=build_id, status=BuildStatus.IN_PROGRESS).exists()


def record_progress(*, build_id, current_step: int, total_steps: int | None, step_name: str) -> None:
    changes = {"current_step": current_step, "step_name": step_name[:500], "updated_at": timezone.now()}
    if total_steps is not None:
        changes["total_steps"] = total_steps
    Build.objects.filter(pk=build_id, status=BuildStatus.IN_PROGRESS).update(**changes)


def record_source_commit(*, build_id, commit: str) -> None:
    Build.objects.filter(pk=build_id).update(source_commit=commit)


def finish_build(*, build_id, status: str, error_message: str | None = None, failure_kind: str | None = None,
                 image_reference: str | None = None, image_digest: str | None = None) -> bool:
    """in_progress → terminal. False when someone else (cancel, reaper) ended it first."""
    assert status in TERMINAL_STATES
    now = timezone.now()
    changes = dict(status=status, completed_at=now, updated_at=now, error_message=error_message,
                   failure_kind=failure_kind)
    if image_reference is not None:
        changes.update(image_reference=image_reference, image_digest=image_digest)
    return bool(Build.objects.filter(pk=build_id, status__in=TRANSITIONS["finish"]).update(**changes))


def reap_lost_builds(*, lost_before: datetime) -> list[Build]:
    """Ends running builds whose worker stopped heartbeating as failed/worker_lost."""
    reaped = []
    suspects = Build.objects.filter(status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=False,
                                    heartbeat_at__lt=lost_before)
    for build in suspects:
        message = (f"Worker {build.worker or 'unknown'} stopped reporting (last heartbeat "
                   f"{build.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); the build was abandoned. Retry it.")
        won = Build.objects.filter(pk=build.pk, status=BuildStatus.IN_PROGRESS, heartbeat_at__lt=lost_before).update(
            status=BuildStatus.FAILED, completed_at=timezone.now(), updated_at=timezone.now(),
            error_message=message, failure_kind=FailureKind.WORKER_LOST,
        )
        if won:
            build.refresh_from_db()
            append_log_lines(build.pk, [events.system_line(message, level="ERROR")])
            events.publish_finished(build)
            reaped.append(build)
    return reaped


def release_slot_and_dispatch(tenant_id) -> int:
    """Hands free slots of the tenant to the builds waiting longest; returns how many were sent."""
    from builds.dispatch import dispatch_build

    waiting = _first_in_line(Tenant.objects.get(pk=tenant_id))
    for build_id in waiting:
        dispatch_build(build_id)
    return len(waiting)
