"""PostgreSQL going away under a running stack: connections terminated, then refused for seconds.

Requests in the outage get the 503 envelope with Retry-After (never a 401 for a valid token, never a
500), the stack serves again without a restart, and a build caught in it ends (success, or
failed/platform_error with a message): never left in_progress, never worker_lost while its worker lives.
"""

from __future__ import annotations

import threading
import time

import pytest

from testing import Stack, StackClient, assert_envelope, need_postgres, run_step, unique_token, wait_until
from testing.database import database_outage, terminate_backends

pytestmark = [pytest.mark.buildah, pytest.mark.e2e, pytest.mark.services]

OUTAGE_SECONDS = 6


@pytest.fixture
def own_stack(buildah, transactional_db, tmp_path):
    """A stack of its own, whose worker would have to wait two minutes to call a build lost."""
    need_postgres()
    running = Stack(tmp_path / "stack", extra_env={"BUILD_LOST_AFTER_SECONDS": "120"}).start()
    yield running
    running.stop()


def assert_database_unavailable(response) -> None:
    body = assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert body["details"] == {"reason": "database_unavailable"}, body
    assert int(response.headers["Retry-After"]) > 0


class Poller(threading.Thread):
    """Sends the client's requests one after the other until stopped; keeps every answer."""

    def __init__(self, client: StackClient, paths: list[str]):
        super().__init__(daemon=True)
        self.client, self.paths = client, paths
        self.answers: list = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for path in self.paths:
                self.answers.append(self.client.get(path, timeout=60))

    def stop(self) -> list:
        self.stopped.set()
        self.join(timeout=120)
        return self.answers


def test_requests_in_a_database_outage_get_503_and_the_stack_recovers(own_stack, owner, tenant, project, make_build):
    client = StackClient(own_stack, owner, tenant)
    build = make_build(project)
    paths = ["/builds", f"/builds/{build.pk}", f"/builds/{build.pk}/status", "/projects"]
    assert client.get("/builds").status_code == 200

    poller = Poller(client, paths)
    poller.start()
    try:
        wait_until(lambda: len(poller.answers) >= 5, timeout=60, what="requests before the outage")
        for _ in range(3):  # connections ended under requests in flight, the database still there
            terminate_backends()
            time.sleep(0.3)
        with database_outage():
            seen = len(poller.answers)
            wait_until(lambda: len(poller.answers) >= seen + 10, timeout=120, what="requests during the outage")
            refused = client.get(f"/builds/{build.pk}")  # one surely sent while connections are refused
            time.sleep(1)
        assert_database_unavailable(refused)
        # The stack serves again without a restart.
        wait_until(lambda: client.get("/builds").status_code == 200, timeout=60, what="the stack to serve again")
        recovered = len(poller.answers)
        wait_until(lambda: len(poller.answers) >= recovered + 5, timeout=60, what="requests after the outage")
    finally:
        answers = poller.stop()

    assert answers[-1].status_code == 200, answers[-1].text
    statuses = {answer.status_code for answer in answers}
    assert statuses <= {200, 503}, sorted(statuses)  # never a 401 for this valid token, never a 500
    unavailable = [answer for answer in answers if answer.status_code == 503]
    assert len(unavailable) >= 5  # most of the ten or more answered in the outage (one may predate it)
    for answer in unavailable:
        assert_database_unavailable(answer)
    assert client.get(f"/builds/{build.pk}").json()["id"] == str(build.pk)


def test_build_caught_in_a_database_outage_ends_and_its_worker_lives(
    own_stack, owner, tenant, engine_project, git_repo
):
    client = StackClient(own_stack, owner, tenant)
    project = engine_project()
    marker = f"started-{unique_token()}"
    # The RUN step ends while the database still refuses connections: the end is stored after it.
    git_repo.commit_dockerfile(run_step(f"echo {marker}; sleep 3; echo done"))
    build = client.create_build(project)
    client.start(build["id"])
    wait_until(lambda: marker in client.log_messages(build["id"]), timeout=180, what="the RUN step to start")

    with database_outage():  # ends the worker's connections (the build's too), then refuses new ones
        time.sleep(OUTAGE_SECONDS)

    done = client.wait_for(build["id"], timeout=180)
    assert done["status"] in ("success", "failed"), done
    if done["status"] == "failed":
        assert done["failure_kind"] == "platform_error" and done["error_message"], done
    assert own_stack.server.poll() is None
    if own_stack.services:
        assert own_stack.workers[0].poll() is None, own_stack.logs()

    # The same worker runs the next build.
    greeting = f"after-outage-{unique_token()}"
    git_repo.commit_dockerfile(run_step(f"echo {greeting}"))
    following = client.create_build(project)
    client.start(following["id"])
    done = client.wait_for(following["id"], timeout=180)
    assert done["status"] == "success", (done, client.log_messages(following["id"])[-10:])
    assert greeting in client.log_messages(following["id"])
