"""The engine's Watchdog: heartbeats, cancel seen in the database, timeout, and surviving a database error."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError
from django.utils import timezone

from builds.executors.base import Executor
from builds.models import Build
from builds.runner import reports
from builds.runner.watchdog import Watchdog
from testing import wait_until


class RecordingExecutor(Executor):
    def __init__(self) -> None:
        self.cancelled = threading.Event()

    @classmethod
    def from_settings(cls, settings):  # pragma: no cover — never called here
        raise NotImplementedError

    def prepare(self, spec, workspace, reporter) -> None:  # pragma: no cover — never called here
        raise NotImplementedError

    def run(self, spec, workspace, reporter):  # pragma: no cover — never called here
        raise NotImplementedError

    def cancel(self) -> None:
        self.cancelled.set()


@pytest.fixture
def running_build(transactional_db, make_build, project, settings):
    settings.BUILD_CANCEL_POLL_SECONDS = 0.05
    settings.BUILD_HEARTBEAT_SECONDS = 0.05
    now = timezone.now()
    return make_build(project, status="in_progress", started_at=now, slot_acquired_at=now, heartbeat_at=now)


@pytest.fixture
def flaky_heartbeat(monkeypatch):
    """reports.heartbeat failing once with a database error, then working; counts its calls."""
    calls = []
    real = reports.heartbeat

    def heartbeat(*, build_id) -> bool:
        calls.append(build_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(build_id=build_id)

    monkeypatch.setattr(reports, "heartbeat", heartbeat)
    return calls


def test_watchdog_survives_a_database_error_and_still_sees_the_cancel(running_build, flaky_heartbeat):
    executor = RecordingExecutor()
    watchdog = Watchdog(running_build.pk, executor, timeout_seconds=600)
    watchdog.start()
    try:
        wait_until(lambda: len(flaky_heartbeat) >= 2, timeout=10, what="a heartbeat after the failed one")
        assert Build.objects.get(pk=running_build.pk).heartbeat_at is not None

        Build.objects.filter(pk=running_build.pk).update(status="cancelled")

        wait_until(executor.cancelled.is_set, timeout=10, what="the executor to be stopped")
    finally:
        watchdog.stop()
    assert watchdog.reason == "cancelled"


def test_watchdog_stops_the_executor_at_the_timeout(running_build):
    executor = RecordingExecutor()
    watchdog = Watchdog(running_build.pk, executor, timeout_seconds=0)
    watchdog.start()
    try:
        wait_until(executor.cancelled.is_set, timeout=10, what="the executor to be stopped")
    finally:
        watchdog.stop()
    assert watchdog.reason == "timeout"
