"""Cancel and timeout of real builds: the process tree goes, the outcome sticks, the log is kept."""

from __future__ import annotations

import random

import pytest

from testing import kill_processes_matching, processes_matching, run_step, unique_token, wait_until

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]

CANCELLED_LINE = "Build cancelled; the build process tree was stopped"


@pytest.fixture
def long_sleep():
    """`sleep 60.<random>`: a command line only this test runs, so /proc scans see only its processes."""
    command = f"sleep 60.{random.randrange(10**5, 10**6)}"
    yield command
    kill_processes_matching(command)  # only matters when the test failed


@pytest.fixture
def sleeping_build(member_client, engine_project, git_repo, long_sleep):
    """sleeping_build(**project_fields) -> a started build whose RUN step prints a marker, then sleeps 60 s."""
    marker = f"started-{unique_token()}"
    git_repo.commit_dockerfile(run_step(f"echo {marker}; {long_sleep}"))

    def start(**project_fields) -> tuple[dict, str]:
        build = member_client.create_build(engine_project(**project_fields))
        member_client.start(build["id"])
        return build, marker

    return start


def test_cancel_during_run_stops_the_process_tree_and_sticks(member_client, sleeping_build, long_sleep, buildah):
    build, marker = sleeping_build()
    wait_until(lambda: marker in member_client.log_messages(build["id"]), timeout=120, what="the RUN step to start")
    assert processes_matching(long_sleep), "the RUN step should be sleeping now"
    logged_before = member_client.log_messages(build["id"])

    response = member_client.post(f"/builds/{build['id']}/cancel", json={"reason": "changed my mind"})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    wait_until(
        lambda: not processes_matching(long_sleep), timeout=5, interval=0.1, what=f"no '{long_sleep}' process left"
    )
    # The worker's last line: it saw the cancel, stopped the tree, and decided the outcome.
    wait_until(
        lambda: CANCELLED_LINE in member_client.log_messages(build["id"]),
        timeout=30,
        what="the worker to write its last line",
    )
    done = member_client.build(build["id"])
    assert done["status"] == "cancelled", done
    assert done["cancel_reason"] == "changed my mind"
    assert done["error_message"] is None and done["failure_kind"] is None and done["image_digest"] is None
    messages = member_client.log_messages(build["id"])
    assert messages[: len(logged_before)] == logged_before
    wait_until(lambda: member_client.stack.workspaces(build["id"]) == [], timeout=10, what="the workspace to go")
    assert member_client.build(build["id"])["status"] == "cancelled"


def test_timeout_fails_the_build_and_stops_the_process_tree(member_client, sleeping_build, long_sleep, buildah):
    build, marker = sleeping_build(build_timeout_seconds=8)  # set on the model: the API accepts >= 30

    done = member_client.wait_for(build["id"], timeout=120)

    assert done["status"] == "failed", done
    assert done["failure_kind"] == "timeout"
    assert done["error_message"] == "timed out after 8 s (limit of the project)"
    wait_until(lambda: not processes_matching(long_sleep), timeout=5, what=f"no '{long_sleep}' process left")
    messages = member_client.log_messages(build["id"])
    assert marker in messages
    assert messages[-1] == f"Build failed: {done['error_message']}"
    assert member_client.stack.workspaces(build["id"]) == []


def test_cancelling_a_queued_build_is_immediate(member_client, engine_project, buildah):
    build = member_client.create_build(engine_project())

    response = member_client.post(f"/builds/{build['id']}/cancel")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled" and response.json()["completed_at"]
    assert member_client.build(build["id"])["status"] == "cancelled"
    assert member_client.log_messages(build["id"])[-1].startswith("Build cancelled by owner@example.com")
    assert member_client.post(f"/builds/{build['id']}/start").status_code == 409
