"""A janitor pass: lost builds end as worker_lost; long-waiting builds are handed free slots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from builds.runner import janitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(monkeypatch):
    """Records what the janitor hands to the workers instead of queueing it."""
    calls: list = []
    monkeypatch.setattr("builds.jobs.queue_build", calls.append)
    return calls


def test_stale_heartbeat_is_reaped_as_worker_lost(project, make_build, settings, dispatched):
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


def test_only_long_waiting_builds_get_free_slots_oldest_first(
    project, make_build, make_project, tenant, settings, dispatched
):
    tenant.max_running_builds = 2
    tenant.save()
    now = timezone.now()
    long_ago = now - timedelta(seconds=settings.BUILD_LOST_AFTER_SECONDS + 60)
    make_build(project, status="in_progress", started_at=long_ago, slot_acquired_at=long_ago, heartbeat_at=now)
    first = make_build(project, status="in_progress", started_at=long_ago - timedelta(seconds=5))
    make_build(project, status="in_progress", started_at=long_ago)  # second in line: no slot left
    other_project = make_project(tenant)
    make_build(other_project, status="queued")

    janitor.sweep()

    assert dispatched == [first.pk]


def test_fresh_waiting_builds_are_left_to_the_normal_dispatch(project, make_build, dispatched):
    make_build(project, status="in_progress", started_at=timezone.now())

    janitor.sweep()

    assert dispatched == []
