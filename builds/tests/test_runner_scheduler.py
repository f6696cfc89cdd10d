"""The scheduler: first come first served within a tenant, a fair share between tenants, limits held.

Real database rows, no builds run: claim_next only moves the claimed build to RUNNING.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from builds.models import Build
from builds.runner import scheduler
from builds.states import Phase
from testing import need_postgres

pytestmark = pytest.mark.django_db


@pytest.fixture
def start():
    """A recent moment: the session's e2e stack wakes its workers for builds that waited longer (a
    lost wake-up), and they would claim these rows."""
    return timezone.now() - timedelta(seconds=2)


@pytest.fixture
def waiting(make_build, start):
    """waiting(project, seconds) -> a started build waiting for a slot, started `seconds` after `start`."""

    def make(project, seconds: float) -> Build:
        return make_build(project, status="in_progress", started_at=start + timedelta(seconds=seconds))

    return make


@pytest.fixture
def running(make_build, start):
    def make(project, *, slot_seconds: float = 0) -> Build:
        slot = start + timedelta(seconds=slot_seconds)
        return make_build(project, status="in_progress", started_at=slot, slot_acquired_at=slot, heartbeat_at=slot)

    return make


@pytest.fixture
def two_tenants(make_tenant, make_user, make_project):
    a = make_tenant("tenant-a", members={make_user(): "owner"}, max_running_builds=4)
    b = make_tenant("tenant-b", members={make_user(): "owner"}, max_running_builds=4)
    return make_project(a), make_project(b)


def claimed_order(count: int) -> list[Build]:
    builds = []
    for _ in range(count):
        build = scheduler.claim_next(worker="test:1")
        if build is None:
            break
        builds.append(build)
    return builds


def test_within_a_tenant_first_come_first_served(project, waiting):
    builds = [waiting(project, seconds) for seconds in (3, 1, 2)]

    assert claimed_order(3) == [builds[1], builds[2], builds[0]]
    assert all(Build.objects.get(pk=b.pk).slot_acquired_at is not None for b in builds)


def test_a_tenant_with_many_waiting_builds_does_not_hold_up_another(two_tenants, waiting, running):
    a, b = two_tenants
    running(a, slot_seconds=0)
    a_waiting = [waiting(a, seconds) for seconds in range(1, 21)]
    b_single = waiting(b, 100)  # started long after all of A's

    assert scheduler.claim_next(worker="test:1") == b_single  # B runs nothing, A runs one
    assert claimed_order(3) == a_waiting[:3]  # then A's, in order, up to its limit of 4 running
    assert scheduler.claim_next(worker="test:1") is None


def test_between_tenants_running_as_many_the_one_served_longest_ago_goes_first(two_tenants, waiting, start):
    """One worker: A's first build just ended; B's build waits for that one freed slot only."""
    a, b = two_tenants
    Build.objects.create(
        tenant=a.tenant,
        project=a,
        build_number=99,
        git_branch="main",
        status="success",
        started_at=start,
        slot_acquired_at=start,
        completed_at=start + timedelta(seconds=5),
    )
    a_second = waiting(a, 1)
    b_first = waiting(b, 2)

    assert claimed_order(2) == [b_first, a_second]


def test_a_tenant_at_its_limit_is_skipped_and_its_builds_are_told_why(two_tenants, waiting, running):
    a, b = two_tenants
    a.tenant.max_running_builds = 1
    a.tenant.save()
    running(a)
    behind = waiting(a, 1)

    assert scheduler.claim_next(worker="test:1") is None
    scheduler.note_waiting()
    scheduler.note_waiting()  # told once

    behind.refresh_from_db()
    assert behind.step_name == scheduler.WAITING_MESSAGE
    messages = list(behind.log_lines.values_list("message", flat=True))
    assert messages == ["All build slots of this tenant are busy; waiting for a free build slot"]


def test_cancelled_and_queued_builds_are_never_claimed(project, make_build, waiting, start):
    make_build(project, status="queued")
    make_build(project, status="cancelled", started_at=start)
    build = waiting(project, 5)

    assert claimed_order(5) == [build]


@pytest.mark.services
def test_racing_workers_never_exceed_a_tenants_limit(transactional_db, two_tenants, waiting, run_concurrently):
    need_postgres()
    a, b = two_tenants
    a.tenant.max_running_builds = 2
    a.tenant.save()
    for seconds in range(10):
        waiting(a, seconds)
        waiting(b, seconds + 0.5)

    claims = run_concurrently(lambda index: scheduler.claim_next(worker=f"test:{index}"), 12)

    claimed = [build for build in claims if build is not None]
    per_tenant = {
        tenant: sum(1 for build in claimed if build.tenant_id == tenant) for tenant in (a.tenant_id, b.tenant_id)
    }
    assert per_tenant == {a.tenant_id: 2, b.tenant_id: 4}
    assert len({build.pk for build in claimed}) == len(claimed)  # never one build twice
    assert Build.objects.filter(Phase.RUNNING.condition).count() == 6
