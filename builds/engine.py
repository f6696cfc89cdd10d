"""Running one build end to end: slot, workspace, executor, logs, watchdog, outcome."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django.utils.module_loading import import_string

from builds import events, services
from builds.executors.base import BuildFailed, BuildInterrupted, BuildResult, BuildSpec, Executor
from builds.executors.process import kill_orphaned_processes
from builds.idempotency import purge_expired_records
from builds.logsink import LogSink
from builds.models import Build, BuildStatus, FailureKind
from imagefactory.core.context import build_id_var, tenant_id_var

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
    executor = None
    try:
        executor = _run_claimed(build, worker)
    finally:
        build_id_var.reset(build_token)
        tenant_id_var.reset(tenant_token)
        services.release_slot_and_dispatch(build.tenant_id)
    if executor is not None:
        _cleanup_now_and_then(executor)  # after the slot went to the next build, not before


def _note_waiting(build_id) -> None:
    updated = Build.objects.filter(pk=build_id, status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=True,
                                   ).exclude(step_name=WAITING_MESSAGE).update(step_name=WAITING_MESSAGE)
    if updated:
        from builds.logstore import append_log_lines

        append_log_lines(build_id, [events.system_line(
            "All build slots of this tenant are busy; waiting for a free build slot", step="queue")])


@dataclass(frozen=True)
class Outcome:
    status: str
    error: str | None = None
    kind: str | None = None
    result: BuildResult | None = None


def _run_claimed(build: Build, worker: str) -> Executor | None:
    """Runs the build and records how it ended; returns the executor for later housekeeping."""
    build = Build.objects.select_related("project").get(pk=build.pk)
    spec = spec_for(build)
    sink = LogSink(build.pk, secrets=spec.secrets)
    reporter = EngineReporter(build, sink)
    started = time.monotonic()
    executor = ended = None
    try:
        reporter.line(f"Build #{build.build_number} running on {worker}", step="system")
        try:
            executor = load_executor()
            outcome = _execute(build, spec, executor, reporter)
        except Exception as exc:  # the worker could not even set the build up (disk, settings)
            logger.exception("could not set up build %s", build.pk)
            outcome = Outcome(BuildStatus.FAILED, f"the worker could not set up the build: {exc}",
                              FailureKind.PLATFORM_ERROR)
        if outcome.status != BuildStatus.CANCELLED:  # a cancel is already stored by the API
            services.finish_build(
                build_id=build.pk, status=outcome.status, failure_kind=outcome.kind,
                error_message=sink.mask(outcome.error) if outcome.error else None,  # a step may print a secret
                image_reference=outcome.result.image_reference if outcome.result else None,
                image_digest=outcome.result.image_digest if outcome.result else None,
            )
        # The last line tells what the database says, whoever won (us, a cancel, the reaper).
        ended = Build.objects.filter(pk=build.pk).first()  # None when deleted right after a cancel
        if ended is not None:
            level, message = _last_line(ended, time.monotonic() - started)
            reporter.line(message, level=level, step="system")
    finally:
        sink.close()
    if ended is not None:
        events.publish_finished(ended)  # after our last line reached the database
    return executor


def _execute(build: Build, spec: BuildSpec, executor: Executor, reporter: EngineReporter) -> Outcome:
    """prepare + run in a fresh workspace under the watchdog; the workspace is always removed."""
    watchdog = Watchdog(build, executor, build.project.build_timeout_seconds)
    settings.BUILD_WORKSPACE_ROOT.mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix=f"build-{build.pk}-", dir=settings.BUILD_WORKSPACE_ROOT))
    watchdog.start()
    try:
        executor.prepare(spec, workspace, reporter)
        outcome = Outcome(BuildStatus.SUCCESS, result=executor.run(spec, workspace, reporter))
    except BuildInterrupted:
        outcome = Outcome(BuildStatus.CANCELLED)
    except BuildFailed as failure:
        outcome = Outcome(BuildStatus.FAILED, failure.message, failure.kind)
    except Exception as exc:  # a bug is a platform fault, reported as such
        logger.exception("build %s crashed", build.pk)
        outcome = Outcome(BuildStatus.FAILED, f"internal error: {exc.__class__.__name__}: {exc}",
                          FailureKind.PLATFORM_ERROR)
    finally:
        watchdog.stop()
        shutil.rmtree(workspace, ignore_errors=True)
    if watchdog.reason == "timeout" and outcome.status != BuildStatus.SUCCESS:
        return Outcome(BuildStatus.FAILED, f"timed out after {build.project.build_timeout_seconds} s "
                       "(limit of the project)", FailureKind.TIMEOUT)
    if watchdog.reason == "cancelled" and outcome.status != BuildStatus.FAILED:
        return Outcome(BuildStatus.CANCELLED)
    return outcome


def _last_line(build: Build, elapsed: float) -> tuple[str, str]:
    if build.status == BuildStatus.SUCCESS:
        return "INFO", f"Build succeeded in {elapsed:.1f} s"
    if build.status == BuildStatus.CANCELLED:
        return "WARN", "Build cancelled; the build process tree was stopped"
    return "ERROR", f"Build failed: {build.error_message}"


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
    purge_expired_records()
