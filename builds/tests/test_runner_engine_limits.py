"""The per-tenant limit on running builds: never exceeded, waiting builds say so, FIFO, all finish."""

from __future__ import annotations

import inspect

import pytest

from builds import jobs
from builds.models import Build, BuildStatus
from builds.runner import engine, janitor, scheduler, tasks
from builds.services import builds as build_services
from testing import run_step, unique_token, wait_until

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


def test_builds_over_the_tenant_limit_wait_their_turn_in_order(
    member_client, tenant, engine_project, git_repo, buildah
):
    tenant.max_running_builds = 1
    tenant.save(update_fields=["max_running_builds"])
    git_repo.commit_dockerfile(run_step(f"sleep 2; echo slow-{unique_token()}"))
    project = engine_project()
    ids = [member_client.create_build(project)["id"] for _ in range(3)]
    for build_id in ids:
        member_client.start(build_id)
    most_running, seen_waiting = 0, set()

    def observe() -> bool:
        nonlocal most_running
        running = Build.objects.filter(
            tenant=tenant, status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=False
        ).count()
        most_running = max(most_running, running)
        for build_id in ids:
            if member_client.build(build_id)["step_name"] == scheduler.WAITING_MESSAGE:
                seen_waiting.add(build_id)
        return not Build.objects.filter(pk__in=ids).exclude(status__in=["success", "failed", "cancelled"]).exists()

    wait_until(observe, timeout=240, interval=0.1, what="all three builds to end")

    builds = [Build.objects.get(pk=build_id) for build_id in ids]
    assert [b.status for b in builds] == ["success"] * 3, [(b.status, b.error_message) for b in builds]
    assert most_running == 1
    assert seen_waiting == set(ids[1:])
    for build in builds[1:]:
        assert "All build slots of this tenant are busy; waiting for a free build slot" in member_client.log_messages(
            str(build.pk)
        )
    assert sorted(builds, key=lambda b: b.started_at) == builds
    assert sorted(builds, key=lambda b: b.slot_acquired_at) == builds  # first come, first served
    for previous, following in zip(builds, builds[1:], strict=False):
        first_running_line = following.log_lines.filter(
            message__startswith=f"Build #{following.build_number} running on"
        ).get()
        assert first_running_line.timestamp >= previous.completed_at
        assert following.slot_acquired_at >= previous.completed_at


@pytest.mark.parametrize("module", [jobs, scheduler, engine, janitor, tasks, build_services])
def test_no_retry_with_countdown_loop(module):
    """Waiting builds are handed a slot when one frees; nothing re-queues itself on a timer. (The
    core job queue offers a countdown, for webhook retries; no build module uses it.)"""
    source = inspect.getsource(module)
    assert "countdown" not in source and ".retry(" not in source and "eta=" not in source


@pytest.fixture
def one_worker_stack(buildah, transactional_db, tmp_path):
    """A stack with a single build worker, so that the order in which builds get it is visible."""
    from testing import Stack

    stack = Stack(tmp_path / "stack", extra_env={"BUILD_WORKERS": "1"})
    stack.start_server()
    if stack.services:
        stack.start_worker(concurrency=1)
    yield stack
    stack.stop()


def test_a_tenants_single_build_waits_for_one_free_worker_only(
    one_worker_stack, owner, tenant, make_user, make_tenant, make_project, git_repo
):
    from testing import StackClient

    git_repo.commit_dockerfile(run_step(f"sleep 2; echo slow-{unique_token()}"))
    a_client = StackClient(one_worker_stack, owner, tenant)
    a_project = make_project(tenant, name="a", repository_url=git_repo.url)
    b_owner = make_user()
    b_tenant = make_tenant(f"b-{unique_token()}", members={b_owner: "owner"})
    b_client = StackClient(one_worker_stack, b_owner, b_tenant)
    b_project = make_project(b_tenant, name="b", repository_url=git_repo.url)

    a_ids = [a_client.create_build(a_project)["id"] for _ in range(3)]
    for build_id in a_ids:
        a_client.start(build_id)
    b_id = b_client.create_build(b_project)["id"]
    b_client.start(b_id)  # started after all of A's
    for client, build_id in [*((a_client, i) for i in a_ids), (b_client, b_id)]:
        assert client.wait_for(build_id, timeout=240)["status"] == "success"

    served = [b.pk for b in Build.objects.filter(pk__in=[*a_ids, b_id]).order_by("slot_acquired_at")]
    assert [str(pk) for pk in served] == [a_ids[0], b_id, a_ids[1], a_ids[2]]
