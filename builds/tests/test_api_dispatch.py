"""POST /start when the broker is down: the start is committed, answered 200, and stays repeat-safe."""

from __future__ import annotations

import pytest

from builds.models import Build

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit callbacks only run on a real commit


@pytest.fixture
def broker_down(monkeypatch):
    def refuse():
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr("builds.jobs.wake_a_worker", refuse)


def test_a_failed_dispatch_does_not_fail_the_committed_start(owner_api, project, make_build, broker_down, caplog):
    build = make_build(project)
    url = f"/api/v1/builds/{build.pk}/start"

    first = owner_api.post(url, HTTP_IDEMPOTENCY_KEY="start-once")
    again = owner_api.post(url, HTTP_IDEMPOTENCY_KEY="start-once")

    assert first.status_code == 200, first.content
    assert (again.status_code, again["Idempotent-Replayed"], again.json()) == (200, "true", first.json())
    assert Build.objects.get(pk=build.pk).status == "in_progress"  # waiting; the reaper re-dispatches it
    assert "Connection refused" in caplog.text
