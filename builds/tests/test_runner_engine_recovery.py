"""A worker SIGKILLed mid-build: the reaper ends the build as worker_lost, and the next build runs."""

from __future__ import annotations

import random

import pytest

from testing import (
    Stack,
    StackClient,
    kill_processes_matching,
    processes_matching,
    run_step,
    unique_token,
    wait_until,
)

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


@pytest.fixture
def own_stack(buildah, transactional_db, tmp_path):
    """A stack of its own: this test kills its worker (in embedded mode, the server itself)."""
    running = Stack(tmp_path / "stack").start()
    yield running
    running.stop()


def kill_the_worker(stack: Stack) -> None:
    if stack.services:
        stack.kill_worker(stack.workers[0])
        stack.start_worker()
    else:
        stack.restart_server()  # the server process runs the embedded worker pool


def test_worker_killed_mid_build_is_reaped_and_next_build_runs(own_stack, owner, tenant, engine_project, git_repo):
    client = StackClient(own_stack, owner, tenant)
    project = engine_project()
    sleep = f"sleep 60.{random.randrange(10**5, 10**6)}"
    marker = f"started-{unique_token()}"
    git_repo.commit_dockerfile(run_step(f"echo {marker}; {sleep}"))
    lost = client.create_build(project)
    client.start(lost["id"])
    wait_until(lambda: marker in client.log_messages(lost["id"]), timeout=120, what="the RUN step to start")

    try:
        kill_the_worker(own_stack)
        # The restarted worker kills the build processes its predecessor left running.
        wait_until(lambda: not processes_matching(sleep), timeout=30, what=f"the orphaned '{sleep}' to be killed")
        done = client.wait_for(lost["id"], timeout=120)
    finally:
        kill_processes_matching(sleep)  # only matters when the test failed

    assert done["status"] == "failed", done
    assert done["failure_kind"] == "worker_lost"
    assert "stopped reporting" in done["error_message"] and "Retry it" in done["error_message"], done
    assert client.log_messages(lost["id"])[-1] == done["error_message"]

    greeting = f"after-recovery-{unique_token()}"
    git_repo.commit_dockerfile(run_step(f"echo {greeting}"))
    following = client.create_build(project)
    client.start(following["id"])
    done = client.wait_for(following["id"], timeout=120)
    assert done["status"] == "success", (done, client.log_messages(following["id"])[-10:])
    assert greeting in client.log_messages(following["id"])
