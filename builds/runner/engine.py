"""Running one build end to end: slot, workspace, executor, log, watchdog, outcome."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from builds import jobs
from builds.executors.base import (
    BuildFailed,
    BuildInterrupted,
    BuildPlatformError,
    BuildResult,
    BuildSpec,
    DiskFull,
    Executor,
)
from builds.logs.sink import LogSink
from builds.models import Build, BuildStatus, FailureKind
from builds.runner import reports, scheduler, stopping
from builds.runner.watchdog import Watchdog
from builds.states import Phase
from imagefactory.core import metrics
from imagefactory.core.context import build_id_var, tenant_id_var

logger = logging.getLogger(__name__)
T = TypeVar("T")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_executor() -> Executor:
    executor_class: type[Executor] = import_string(settings.BUILD_EXECUTOR)
    return executor_class.from_settings(settings)


def spec_for(build: Build) -> BuildSpec:
    project = build.project
    return BuildSpec(
        build_id=str(build.pk),
        build_number=build.build_number,
        tenant_id=str(build.tenant_id),
        repository_url=project.repository_url,
        git_branch=build.git_branch,
        git_commit=build.git_commit,
        default_branch=project.default_branch,
        dockerfile_path=project.dockerfile_path,
        build_context=project.build_context,
        build_args=dict(build.build_args or {}),
        image_repository=project.image_repository,
        registry_username=project.registry_username,
        registry_password=project.registry_password,
        git_username=project.git_username,
        git_password=project.git_password,
        git_ssh_private_key=project.git_ssh_private_key,
        build_secrets=dict(project.secrets),
    )


class EngineReporter:
    """The executor's Reporter: lines go to the sink, progress to the build row."""

    def __init__(self, build: Build, sink: LogSink):
        self.build = build
        self.sink = sink
        self.current_step = 0

    def metadata(self, step: str, step_name: str = "") -> dict[str, str]:
        return {
            "step": step,
            "step_name": step_name or step,
            "step_number": str(self.current_step),
            "container": "builder",
        }

    def line(self, message: str, *, level: str = "INFO", step: str, step_name: str = "", cut_bytes: int = 0) -> None:
        self.sink.emit(message, level=level, cut_bytes=cut_bytes, metadata=self.metadata(step, step_name))

    def progress(self, *, current_step: int, total_steps: int | None, step_name: str) -> None:
        self.current_step = current_step
        with _database_blip_ignored("progress"):
            reports.record_progress(
                build_id=self.build.pk,
                current_step=current_step,
                total_steps=total_steps,
                step_name=self.sink.mask(step_name),
            )

    def source_commit(self, commit: str) -> None:
        with _database_blip_ignored("source commit"):
            reports.record_source_commit(build_id=self.build.pk, commit=commit)


DATABASE_ERRORS = (OperationalError, InterfaceError)


@contextlib.contextmanager
def _database_blip_ignored(what: str) -> Iterator[None]:
    """Progress is news, not the outcome: a database outage loses it, the build goes on."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        logger.warning("could not record the %s of the build: %s", what, exc)
        connection.close()  # terminated under us: the next query opens a fresh one


def _stored_despite_outages(action: Callable[[], T], what: str) -> T:
    """Runs `action` (database writes) again after a database outage ends the connection under it
    or refuses new ones, for up to BUILD_LOST_AFTER_SECONDS: how a build ended must be stored, or
    it would stay in_progress until the janitor calls its (living) worker lost."""
    deadline = time.monotonic() + settings.BUILD_LOST_AFTER_SECONDS
    pause = 0.5
    while True:
        try:
            return action()
        except DATABASE_ERRORS as exc:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("could not store the %s of the build (%s); retrying in %.1f s", what, exc, pause)
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def run_next_builds() -> int:
    """The build task's body (Celery or the embedded pool): runs the builds next in line, one after
    the other, until none may run now; returns how many it ran. Safe to run anywhere, any number of
    times at once: a build is claimed by one worker only."""
    worker, ran = worker_name(), 0
    while not stopping.is_stopping() and (build := scheduler.claim_next(worker=worker)) is not None:
        if scheduler.next_in_line():
            jobs.wake_a_worker()  # more builds may run now: a free peer takes the next one
        _run_one(build, worker)
        ran += 1
    scheduler.note_waiting()
    return ran


def _run_one(build: Build, worker: str) -> None:
    build_token, tenant_token = build_id_var.set(str(build.pk)), tenant_id_var.set(str(build.tenant_id))
    try:
        executor = _run_claimed(build, worker)
    finally:
        build_id_var.reset(build_token)
        tenant_id_var.reset(tenant_token)
    if executor is not None:
        _cleanup_now_and_then(executor)


@dataclass(frozen=True)
class Outcome:
    phase: Phase
    error: str | None = None
    kind: str | None = None
    result: BuildResult | None = None


def _is_disk_full(exc: Exception) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def _failure(failure: BuildFailed) -> Outcome:
    kind = FailureKind.PLATFORM_ERROR if isinstance(failure, BuildPlatformError) else FailureKind.BUILD_ERROR
    return Outcome(Phase.FAILED, failure.message, kind)


def _run_claimed(build: Build, worker: str) -> Executor | None:
    """Runs the build and records how it ended; returns the executor for later housekeeping."""
    build = Build.objects.select_related("project").get(pk=build.pk)
    spec = spec_for(build)
    sink = LogSink(build.pk, secrets=spec.sensitive_values)
    reporter = EngineReporter(build, sink)
    started = time.monotonic()
    executor = ended = None
    try:
        logger.info("running build #%s of project %s", build.build_number, build.project_id)
        reporter.line(f"Build #{build.build_number} running on {worker}", step="system")
        if build.started_at is not None:
            metrics.BUILD_TIME_TO_FIRST_LINE.observe((timezone.now() - build.started_at).total_seconds())
        try:
            executor = load_executor()
            outcome = _execute(build, spec, executor, reporter)
        except Exception as exc:  # the worker could not even set the build up (disk, settings)
            logger.exception("could not set up build %s", build.pk)
            outcome = (
                _failure(DiskFull("workspace"))
                if _is_disk_full(exc)
                else Outcome(Phase.FAILED, f"the worker could not set up the build: {exc}", FailureKind.PLATFORM_ERROR)
            )
        _stored_despite_outages(lambda: sink.flush(tail=True), "log")  # stored before the build is seen to end
        ended = _stored_despite_outages(lambda: _record_end(build, outcome, sink, reporter, started), "end")
    finally:
        _stored_despite_outages(lambda: sink.close(status=ended.status if ended is not None else None), "log's end")
    if ended is not None:
        _observe_end(ended)
    return executor


def _observe_end(build: Build) -> None:
    logger.info("build #%s ended %s", build.build_number, build.status)
    if build.slot_acquired_at is not None and build.completed_at is not None:
        duration = (build.completed_at - build.slot_acquired_at).total_seconds()
        metrics.BUILD_DURATION.observe(max(duration, 0.0), status=build.status)


@transaction.atomic  # the end and its last line, together
def _record_end(
    build: Build, outcome: Outcome, sink: LogSink, reporter: EngineReporter, started: float
) -> Build | None:
    if outcome.phase is not Phase.CANCELLED:  # a cancel is already stored by the API
        reports.finish(
            build_id=build.pk,
            outcome=outcome.phase,
            failure_kind=outcome.kind,
            error_message=sink.mask(outcome.error) if outcome.error else None,  # a step may print a secret
            image_reference=outcome.result.image_reference if outcome.result else None,
            image_digest=outcome.result.image_digest if outcome.result else None,
        )
    # The last line tells what the database says, whoever won (us, a cancel, the janitor).
    ended = Build.objects.filter(pk=build.pk).first()  # None when deleted right after a cancel
    if ended is not None:
        level, message = _last_line(ended, time.monotonic() - started)
        sink.write_now(message, level=level, metadata=reporter.metadata("system"))
    return ended


def _execute(build: Build, spec: BuildSpec, executor: Executor, reporter: EngineReporter) -> Outcome:
    """prepare + run in a fresh workspace under the watchdog; the workspace is always removed."""
    timeout = build.project.build_timeout_seconds
    watchdog = Watchdog(build.pk, executor, timeout)
    settings.BUILD_WORKSPACE_ROOT.mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix=f"build-{build.pk}-", dir=settings.BUILD_WORKSPACE_ROOT))
    watchdog.start()
    try:
        with stopping.holding(build.pk, executor):
            executor.prepare(spec, workspace, reporter)
            outcome = Outcome(Phase.SUCCESS, result=executor.run(spec, workspace, reporter))
    except BuildInterrupted:
        outcome = Outcome(Phase.CANCELLED)
    except BuildFailed as failure:
        outcome = _failure(failure)
    except Exception as exc:  # a bug is a platform fault, reported as such
        if _is_disk_full(exc):
            outcome = _failure(DiskFull("workspace"))
        else:
            logger.exception("build %s crashed", build.pk)
            outcome = Outcome(
                Phase.FAILED, f"internal error: {exc.__class__.__name__}: {exc}", FailureKind.PLATFORM_ERROR
            )
    finally:
        watchdog.stop()
        shutil.rmtree(workspace, ignore_errors=True)
    if watchdog.reason == "timeout" and outcome.phase is not Phase.SUCCESS:
        return Outcome(Phase.FAILED, f"timed out after {timeout} s (limit of the project)", FailureKind.TIMEOUT)
    if watchdog.reason == "cancelled" and outcome.phase is not Phase.FAILED:
        return Outcome(Phase.CANCELLED)
    if outcome.phase is Phase.CANCELLED and stopping.is_stopping():  # stopped by the worker, not a user
        message = f"the worker {worker_name()} was stopped (a deploy or a restart) while the build ran; retry it"
        return Outcome(Phase.FAILED, message, FailureKind.PLATFORM_ERROR)
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
