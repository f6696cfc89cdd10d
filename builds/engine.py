"""Running one build end to end: slot, workspace, executor, logs, watchdog, outcome."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django.utils.module_loading import import_string

from builds import events, services
from builds.executors.base import BuildFailed, BuildInterrupted, BuildSpec, Executor
from builds.executors.process import kill_orphaned_processes
from builds.logsink import LogSink
from builds.models import Build, BuildStatus, FailureKind, IdempotencyRecord
from imagefactory.context import build_id_var, tenant_id_var

logger = logging.getLogger(__name__)

WAITING_MESSAGE = "waiting for a free build slot"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_executor() -> Executor:
    return import_string(settings.BUILD_EXECUTOR)()


def spec_for(build: Build) -> BuildSpec:
    project = build.project
    return BuildSpec(
        build_id=str(build.pk), build_number=build.build_number, repository_url=project.repository_url,
        git_branch=build.git_branch, git_commit=build.git_commit, default_branch=project.default_branch,
        dockerfile_path=project.dockerfile_path, build_context=project.build_context,
        build_args=dict(build.build_args or {}), image_repository=project.image_repository,
        registry_username=project.registry_username, registry_password=project.registry_password,
        git_username=project.git_username, git_password=project.git_password,
        git_ssh_private_key=project.git_ssh_private_key,
    )


class EngineReporter:
    """The executor's Reporter: lines go to the sink, progress to the build row."""

    def __init__(self, build: Build, sink: LogSink):
        self.build = build
        self.sink = sink
        self.current_step = 0

    def line(self, message: str, *, level: str = "INFO", step: str, step_name: str = "") -> None:
        self.sink.emit(message, level=level, metadata={
            "step": step, "step_name": step_name or step, "step_number": str(self.current_step),
            "container": "builder",
        })

    def progress(self, *, current_step: int, total_steps: int | None, step_name: str) -> None:
        self.current_step = current_step
        services.record_progress(build_id=self.build.pk, current_step=current_step, total_steps=total_steps,
                                 step_name=self.sink.mask(step_name))

    def source_commit(self, commit: str) -> None:
        services.record_source_commit(build_id=self.build.pk, commit=commit)


class Watchdog(threading.Thread):
    """Heartbeats the build, and stops the executor on cancel (seen in the database) or timeout."""

    def __init__(self, build: Build, executor: Executor, timeout_seconds: int):
        super().__init__(name=f"watchdog-{build.pk}", daemon=True)
        self.build_id = build.pk
        self.executor = executor
        self.deadline = time.monotonic() + timeout_seconds
        self.reason: str | None = None  # "cancelled" or "timeout"
        self._stop_event = threading.Event()

    def run(self) -> None:
        last_beat = 0.0
        try:
            while not self._stop_event.wait(settings.BUILD_CANCEL_POLL_SECONDS):
                if time.monotonic() >= self.deadline:
                    self._interrupt("timeout")
                    return
                try:
                    if time.monotonic() - last_beat >= settings.BUILD_HEARTBEAT_SECONDS:
                        still_running = services.heartbeat(build_id=self.build_id)
                        last_beat = time.monotonic()
                    else:
                        still_running = services.is_still_running(build_id=self.build_id)
                except Exception:  # a database blip must not end heartbeats, cancel and timeout for good
                    logger.exception("watchdog of build %s could not reach the database; retrying", self.build_id)
                    close_old_connections()
                    continue
                if not still_running:
                    self._interrupt("cancelled")
                    return
        except Exception:
            logger.exception("watchdog of build %s failed", self.build_id)
        finally:
            close_old_connections()

    def _interrupt(self, reason: str) -> None:
        self.reason = reason
        self.executor.cancel()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def execute_build(build_id) -> None:
    """Task body shared by Celery and the embedded pool. Safe to call twice: the claim has one winner."""
    worker = worker_name()
    build = services.claim_build_slot(build_id=build_id, worker=worker)
    if build is None:
        _note_waiting(build_id)
        return
    build_token, tenant_token = build_id_var.set(str(build.pk)), tenant_id_var.set(str(build.tenant_id))
    try:
        _run_claimed(build, worker)
    finally:
        build_id_var.reset(build_token)
        tenant_id_var.reset(tenant_token)
        services.release_slot_and_dispatch(build.tenant_id)


def _note_waiting(build_id) -> None:
    updated = Build.objects.filter(pk=build_id, status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=True,
                                   ).exclude(step_name=WAITING_MESSAGE).update(step_name=WAITING_MESSAGE)
    if updated:
        from builds.logstore import append_log_lines

        append_log_lines(build_id, [events.system_line(
            "All build slots of this tenant are busy; waiting for a free build slot", step="queue")])


def _run_claimed(build: Build, worker: str) -> None:
    build = Build.objects.select_related("project").get(pk=build.pk)
    spec = spec_for(build)
    sink = LogSink(build.pk, secrets=spec.secrets)
    executor = load_executor()
    reporter = EngineReporter(build, sink)
    watchdog = Watchdog(build, executor, build.project.build_timeout_seconds)
    settings.BUILD_WORKSPACE_ROOT.mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix=f"build-{build.pk}-", dir=settings.BUILD_WORKSPACE_ROOT))
    status, error, kind, result = BuildStatus.SUCCESS, None, None, None
    started = time.monotonic()
    reporter.line(f"Build #{build.build_number} running on {worker}", step="system")
    watchdog.start()
    try:
        executor.prepare(spec, workspace, reporter)
        result = executor.run(spec, workspace, reporter)
    except BuildInterrupted:
        status = BuildStatus.CANCELLED
    except BuildFailed as failure:
        status, error, kind = BuildStatus.FAILED, failure.message, failure.kind
    except Exception as exc:
        logger.exception("build %s crashed", build.pk)
        status, error, kind = BuildStatus.FAILED, f"internal error: {exc.__class__.__name__}: {exc}", \
            FailureKind.PLATFORM_ERROR
    finally:
        watchdog.stop()
        shutil.rmtree(workspace, ignore_errors=True)

    if watchdog.reason == "timeout":
        status, kind = BuildStatus.FAILED, FailureKind.TIMEOUT
        error = f"timed out after {build.project.build_timeout_seconds} s (limit of the project)"
    elif watchdog.reason == "cancelled" and status != BuildStatus.FAILED:
        status = BuildStatus.CANCELLED
    error = sink.mask(error) if error else error  # a failing step's text may contain a secret
    elapsed = time.monotonic() - started
    if status == BuildStatus.SUCCESS:
        reporter.line(f"Build succeeded in {elapsed:.1f} s", step="system")
    elif status == BuildStatus.FAILED:
        reporter.line(f"Build failed: {error}", level="ERROR", step="system")
    else:
        reporter.line("Build cancelled; the build process tree was stopped", level="WARN", step="system")
    sink.close()
    if status != BuildStatus.CANCELLED:
        services.finish_build(
            build_id=build.pk, status=status, error_message=error, failure_kind=kind,
            image_reference=result.image_reference if result else None,
            image_digest=result.image_digest if result else None,
        )
    # Whoever ended the build (us, a cancel, the reaper), the stream ends after our last line.
    ended = Build.objects.filter(pk=build.pk).first()  # None when deleted right after a cancel
    if ended is not None:
        events.publish_finished(ended)
    _cleanup_now_and_then(executor)


_cleanup_lock = threading.Lock()
_last_cleanup = float("-inf")


def _cleanup_now_and_then(executor: Executor) -> None:
    """Executor housekeeping (measuring the layer cache walks it) at most every BUILD_CACHE_CHECK_SECONDS."""
    global _last_cleanup
    with _cleanup_lock:
        if time.monotonic() - _last_cleanup < settings.BUILD_CACHE_CHECK_SECONDS:
            return
        _last_cleanup = time.monotonic()
    try:
        executor.cleanup()
    except Exception:
        logger.exception("executor cleanup failed")


def reap() -> None:
    """One reaper pass: orphaned processes here, lost builds, waiting builds with free slots, old keys."""
    orphans = kill_orphaned_processes()
    if orphans:
        logger.warning("killed %d build processes left behind by a dead worker", orphans)
    lost_before = timezone.now() - timedelta(seconds=settings.BUILD_LOST_AFTER_SECONDS)
    for build in services.reap_lost_builds(lost_before=lost_before):
        logger.warning("reaped build %s of worker %s", build.pk, build.worker)
    # A safety net for a lost dispatch: only builds that have waited a while. A fresh waiting build
    # is still on its way to a worker, and will be handed a slot when a running build ends.
    tenants = (Build.objects.filter(status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=True,
                                    started_at__lt=lost_before)
               .values_list("tenant_id", flat=True).distinct())
    for tenant_id in list(tenants):
        services.release_slot_and_dispatch(tenant_id)
    expired = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    IdempotencyRecord.objects.filter(created_at__lt=expired).delete()
