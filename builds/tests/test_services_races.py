"""Compare-and-swap under real concurrency: threads calling the HTTP API on PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest
from django.utils import timezone

from builds.models import Build
from builds.runner import reports
from builds.states import Phase

pytestmark = pytest.mark.services


@pytest.fixture
def race_project(race_settings, make_project, tenant):
    # A repository that cannot exist: if an embedded engine picks a started build up, it fails fast.
    return make_project(tenant, name="race", repository_url="file:///nonexistent/race-tests.git")


@pytest.fixture
def clients(api, owner, tenant):
    """clients(n) -> n APIClients of the owner, one per thread (a client is not thread-safe)."""
    return lambda count: [api(owner, tenant) for _ in range(count)]


def test_parallel_creates_get_consecutive_build_numbers(race_project, clients, run_concurrently):
    pool = clients(20)

    responses = run_concurrently(
        lambda i: pool[i].post(
            "/api/v1/builds", {"project_id": str(race_project.pk), "git_branch": "main"}, format="json"
        ),
        20,
    )

    assert [r.status_code for r in responses] == [201] * 20, [r.content for r in responses if r.status_code != 201]
    assert sorted(r.json()["build_number"] for r in responses) == list(range(1, 21))
    assert sorted(Build.objects.values_list("build_number", flat=True)) == list(range(1, 21))
    race_project.refresh_from_db()
    assert race_project.build_counter == 20


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_starts_have_one_winner(race_project, make_build, clients, run_concurrently, round_):
    build = make_build(race_project)
    pool = clients(4)

    responses = run_concurrently(lambda i: pool[i].post(f"/api/v1/builds/{build.pk}/start"), 4)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 3}
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "CONFLICT"
            assert response.json()["details"]["status"] == "in_progress"
    build.refresh_from_db()
    assert build.status == "in_progress" and build.started_at is not None


@pytest.mark.parametrize("round_", range(5))
@pytest.mark.parametrize("engine_outcome", ["success", "failed"])
def test_cancel_racing_engine_completion_has_one_final_state(
    race_project, make_build, clients, run_concurrently, engine_outcome, round_
):
    now = timezone.now()
    build = make_build(race_project, status="in_progress", started_at=now, slot_acquired_at=now, worker="w1")
    (client,) = clients(1)

    def racer(index):
        if index == 0:
            return client.post(f"/api/v1/builds/{build.pk}/cancel", {"reason": "race"}, format="json")
        return reports.finish(
            build_id=build.pk,
            outcome=Phase(engine_outcome),
            error_message="boom" if engine_outcome == "failed" else None,
        )

    cancel, finished = run_concurrently(racer, 2)

    assert (cancel.status_code == 200) != finished, (cancel.status_code, finished)
    final = "cancelled" if cancel.status_code == 200 else engine_outcome
    if cancel.status_code == 409:
        assert cancel.json()["details"]["status"] == engine_outcome
    build.refresh_from_db()
    assert build.status == final and build.completed_at is not None
    # Terminal means terminal: neither side can change it afterwards.
    assert client.post(f"/api/v1/builds/{build.pk}/cancel").status_code == 409
    assert reports.finish(build_id=build.pk, outcome=Phase.SUCCESS) is False
    assert client.post(f"/api/v1/builds/{build.pk}/start").status_code == 409
    build.refresh_from_db()
    assert build.status == final
    assert build.cancel_reason == ("race" if final == "cancelled" else None)


def test_concurrent_retries_create_one_build(race_project, make_build, clients, run_concurrently):
    original = make_build(race_project, status="failed")
    pool = clients(4)

    responses = run_concurrently(lambda i: pool[i].post(f"/api/v1/builds/{original.pk}/retry"), 4)

    assert Counter(r.status_code for r in responses) == {201: 1, 409: 3}, [r.content for r in responses]
    assert Build.objects.filter(retry_of=original).count() == 1
    assert Build.objects.count() == 2
    assert sorted(Build.objects.values_list("build_number", flat=True)) == [1, 2]


def test_queue_limit_holds_under_concurrency(race_project, make_build, tenant, clients, run_concurrently):
    tenant.max_queued_builds = 5
    tenant.save(update_fields=["max_queued_builds"])
    for _ in range(3):
        make_build(race_project)
    pool = clients(8)

    responses = run_concurrently(
        lambda i: pool[i].post(
            "/api/v1/builds", {"project_id": str(race_project.pk), "git_branch": "main"}, format="json"
        ),
        8,
    )

    assert Counter(r.status_code for r in responses) == {201: 2, 429: 6}
    assert all(r.json()["details"]["reason"] == "queue_full" for r in responses if r.status_code == 429)
    assert Build.objects.filter(status="queued").count() == 5
    assert sorted(Build.objects.values_list("build_number", flat=True)) == [1, 2, 3, 4, 5]
