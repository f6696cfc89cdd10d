"""A worker stopped gracefully (SIGTERM to its process group, as a deploy does) while it holds builds.

Whatever it was doing (stopping a cancelled build's tree, or running a build), no process of its
builds is left once it has exited, and no build it held stays in_progress.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path

import pytest

from builds.executors.sandbox import CGROUP_ROOT
from testing import Stack, StackClient, kill_processes_matching, processes_matching, run_step, unique_token, wait_until

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


@pytest.fixture
def own_stack(buildah, transactional_db, tmp_path):
    """A stack of its own: this test stops its worker (in embedded mode, the server itself).

    The janitor waits long before it calls a build lost: on a loaded host it must not end the build
    before the worker's own stop does."""
    running = Stack(tmp_path / "stack", extra_env={"BUILD_LOST_AFTER_SECONDS": "120"}).start()
    yield running
    running.stop()


@pytest.fixture
def long_sleep():
    """`sleep 90.<random>`: a command line only this test runs, so /proc scans see only its processes."""
    command = f"sleep 90.{random.randrange(10**5, 10**6)}"
    yield command
    kill_processes_matching(command)  # only matters when the test failed


def build_cgroups(build_id: str) -> list[Path]:
    """The cgroup directories of the build (their names end with its id) still on the host."""
    return [path for path in CGROUP_ROOT.glob(f"**/imagefactory/w*-{build_id}") if path.is_dir()]


def sleeping_build(client: StackClient, project, git_repo, long_sleep: str) -> dict:
    marker = f"started-{unique_token()}"
    git_repo.commit_dockerfile(run_step(f"echo {marker}; {long_sleep}"))
    build = client.create_build(project)
    client.start(build["id"])
    wait_until(lambda: marker in client.log_messages(build["id"]), timeout=180, what="the RUN step to start")
    assert processes_matching(long_sleep), "the RUN step should be sleeping now"
    return build


def stop_gracefully(stack: Stack) -> None:
    """SIGTERM to the process group of whatever runs builds (systemd's default stop), then its exit."""
    process = stack.workers[0] if stack.services else stack.server
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker did not stop within 120 s\n{stack.logs()}") from None


def assert_nothing_of_the_build_left(build_id: str, long_sleep: str, stack: Stack) -> None:
    # Right after the exit: nothing left for a janitor of a later worker to find.
    assert not processes_matching(long_sleep), (processes_matching(long_sleep), stack.logs())
    assert not processes_matching(build_id), processes_matching(build_id)
    leftovers = {str(path): (path / "cgroup.procs").read_text().split() for path in build_cgroups(build_id)}
    assert not any(leftovers.values()), leftovers


def restart(stack: Stack) -> None:
    if stack.services:
        stack.start_worker()
    else:
        stack.start_server()


def test_worker_stopped_right_after_a_cancel_leaves_no_process_of_the_build(
    own_stack, owner, tenant, engine_project, git_repo, long_sleep
):
    client = StackClient(own_stack, owner, tenant)
    build = sleeping_build(client, engine_project(), git_repo, long_sleep)

    response = client.post(f"/builds/{build['id']}/cancel", json={"reason": "deploying"})
    assert response.status_code == 200, response.text
    stop_gracefully(own_stack)

    assert_nothing_of_the_build_left(build["id"], long_sleep, own_stack)
    restart(own_stack)
    assert client.build(build["id"])["status"] == "cancelled"


def test_worker_stopped_mid_build_ends_the_build_and_leaves_no_process(
    own_stack, owner, tenant, engine_project, git_repo, long_sleep
):
    client = StackClient(own_stack, owner, tenant)
    build = sleeping_build(client, engine_project(), git_repo, long_sleep)

    stop_gracefully(own_stack)

    assert_nothing_of_the_build_left(build["id"], long_sleep, own_stack)
    restart(own_stack)
    done = client.build(build["id"])
    assert done["status"] == "failed", done
    assert done["failure_kind"] == "platform_error", done
    assert "stopped" in done["error_message"] and "retry" in done["error_message"].lower(), done
