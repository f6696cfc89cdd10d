"""A janitor pass: lost builds end as worker_lost; a build that may run but waited too long wakes a worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from builds.runner import janitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def woken(monkeypatch):
    """Counts the workers the janitor wakes (instead of queueing the wake-ups)."""
    calls: list = []
    monkeypatch.setattr("builds.jobs.wake_a_worker", lambda: calls.append("wake"))
    return calls


def test_stale_heartbeat_is_reaped_as_worker_lost(project, make_build, settings, woken):
    long_ago = timezone.now() - timedelta(seconds=settings.BUILD_LOST_AFTER_SECONDS + 60)
    lost = make_build(
        project,
        status="in_progress",
        started_at=long_ago,
        slot_acquired_at=long_ago,
        heartbeat_at=long_ago,
        worker="host-a:123",
    )
    alive = make_build(
        project,
        status="in_progress",
        started_at=long_ago,
        slot_acquired_at=long_ago,
        heartbeat_at=timezone.now(),
        worker="host-b:456",
    )

    janitor.sweep()

    lost.refresh_from_db()
    alive.refresh_from_db()
    assert (lost.status, lost.failure_kind) == ("failed", "worker_lost")
    assert "host-a:123" in lost.error_message and lost.completed_at is not None
    assert lost.log_lines.last().message == lost.error_message
    assert alive.status == "in_progress"


def test_a_build_that_may_run_but_waited_too_long_wakes_a_worker(project, make_build, settings, woken):
    long_ago = timezone.now() - timedelta(seconds=settings.BUILD_LOST_AFTER_SECONDS + 60)
    make_build(project, status="in_progress", started_at=long_ago)

    janitor.sweep()

    assert woken == ["wake"]


def test_no_wake_up_for_builds_that_wait_behind_their_tenants_limit(project, make_build, tenant, settings, woken):
    tenant.max_running_builds = 1
    tenant.save()
    now = timezone.now()
    long_ago = now - timedelta(seconds=settings.BUILD_LOST_AFTER_SECONDS + 60)
    make_build(project, status="in_progress", started_at=long_ago, slot_acquired_at=long_ago, heartbeat_at=now)
    make_build(project, status="in_progress", started_at=long_ago)  # waits for the one slot, rightly

    janitor.sweep()

    assert woken == []


def test_fresh_waiting_builds_are_left_to_the_normal_wake_up(project, make_build, woken):
    make_build(project, status="in_progress", started_at=timezone.now())

    janitor.sweep()

    assert woken == []
