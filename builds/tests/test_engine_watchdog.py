"""The engine's Watchdog: heartbeats, cancel seen in the database, timeout, and surviving a database error."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError

from builds import services
from builds.engine import Watchdog
from builds.executors.base import Executor
from builds.models import Build
from testing import wait_until


class RecordingExecutor(Executor):
    def __init__(self) -> None:
        self.cancelled = threading.Event()

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
    return make_build(project, status="in_progress")


@pytest.fixture
def flaky_heartbeat(monkeypatch):
    """services.heartbeat failing once with a database error, then working; counts its calls."""
    calls = []
    real = services.heartbeat

    def heartbeat(*, build_id) -> bool:
        calls.append(build_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(build_id=build_id)

    monkeypatch.setattr(services, "heartbeat", heartbeat)
    return calls


def test_watchdog_survives_a_database_error_and_still_sees_the_cancel(running_build, flaky_heartbeat):
    executor = RecordingExecutor()
    watchdog = Watchdog(running_build, executor, timeout_seconds=600)
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
    watchdog = Watchdog(running_build, executor, timeout_seconds=0)
    watchdog.start()
    try:
        wait_until(executor.cancelled.is_set, timeout=10, what="the executor to be stopped")
    finally:
        watchdog.stop()
    assert watchdog.reason == "timeout"
