"""Idempotency-Key on POST /builds, /start, /cancel, /retry: replay, reuse, scope, concurrency."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from builds.models import Build, IdempotencyRecord
from testing import assert_envelope


def _create_body(project, **fields):
    return {"project_id": str(project.pk), "git_branch": "main", **fields}


@pytest.fixture
def action(project, make_build):
    """action(name) -> (path, body, expected status) for a build in a state where the action works."""

    def make(name: str):
        if name == "create":
            return "/api/v1/builds", _create_body(project), 201
        status = {"start": "queued", "cancel": "in_progress", "retry": "failed"}[name]
        build = make_build(project, status=status)
        body = {"reason": "no longer needed"} if name == "cancel" else None
        return f"/api/v1/builds/{build.pk}/{name}", body, 201 if name == "retry" else 200

    return make


def _post(client, path, body, key):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _snapshot():
    return sorted(Build.objects.values_list("id", "status", "updated_at", "cancel_reason"))


@pytest.mark.parametrize("name", ["create", "start", "cancel", "retry"])
def test_replay_returns_the_first_response_and_does_nothing_again(owner_api, action, name):
    path, body, expected = action(name)
    first = _post(owner_api, path, body, "key-1")
    assert first.status_code == expected, first.content
    assert "Idempotent-Replayed" not in first
    state = _snapshot()

    replay = _post(owner_api, path, body, "key-1")

    assert replay.status_code == expected
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert _snapshot() == state
    if expected == 201:
        assert replay["Location"] == first["Location"]


@pytest.mark.parametrize("name", ["create", "start", "cancel", "retry"])
def test_without_a_key_nothing_is_replayed(owner_api, action, name):
    path, body, expected = action(name)
    assert owner_api.post(path, body, format="json").status_code == expected

    again = owner_api.post(path, body, format="json")

    if name == "create":
        assert again.status_code == 201 and Build.objects.count() == 2
    else:
        assert_envelope(again, 409, "CONFLICT")
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("create", "create-other-branch"),
        ("create", "create-with-args"),
        ("cancel", "cancel-other-reason"),
        ("start", "start-other-build"),
        ("start", "create"),
    ],
)
def test_same_key_different_request_is_409(owner_api, project, make_build, first, second):
    queued, running = make_build(project), make_build(project, status="in_progress")
    requests = {
        "create": ("/api/v1/builds", _create_body(project)),
        "create-other-branch": ("/api/v1/builds", _create_body(project, git_branch="dev")),
        "create-with-args": ("/api/v1/builds", _create_body(project, build_args={"A": "1"})),
        "cancel": (f"/api/v1/builds/{running.pk}/cancel", {"reason": "a"}),
        "cancel-other-reason": (f"/api/v1/builds/{running.pk}/cancel", {"reason": "b"}),
        "start": (f"/api/v1/builds/{queued.pk}/start", None),
        "start-other-build": (f"/api/v1/builds/{make_build(project).pk}/start", None),
    }
    assert _post(owner_api, *requests[first], "shared").status_code in (200, 201)
    state = _snapshot()

    response = _post(owner_api, *requests[second], "shared")

    body = assert_envelope(response, 409, "CONFLICT")
    assert body["details"]["reason"] == "idempotency_key_reused"
    assert _snapshot() == state


def test_keys_are_scoped_per_user(api, owner, tenant, project, make_user, roles):
    from tenants.models import Membership

    colleague = make_user()
    Membership.objects.create(user=colleague, tenant=tenant, role=roles["developer"])

    mine = _post(api(owner, tenant), "/api/v1/builds", _create_body(project), "same-key")
    theirs = _post(api(colleague, tenant), "/api/v1/builds", _create_body(project), "same-key")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert Build.objects.count() == 2


def test_keys_are_scoped_per_tenant(api, owner, tenant, project, make_tenant, make_project):
    second_tenant = make_tenant(members={owner: "owner"})
    second_project = make_project(second_tenant)

    here = _post(api(owner, tenant), "/api/v1/builds", _create_body(project), "same-key")
    there = _post(api(owner, second_tenant), "/api/v1/builds", _create_body(second_project), "same-key")

    assert (here.status_code, there.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in there
    assert Build.objects.filter(tenant=second_tenant).count() == 1


@pytest.mark.parametrize("key", ["k" * 256, "   ", "", "tab\there"])
def test_invalid_key_is_400(owner_api, project, key):
    response = _post(owner_api, "/api/v1/builds", _create_body(project), key)

    body = assert_envelope(response, 400, "INVALID_REQUEST")
    assert body["details"]["header"] == "Idempotency-Key"
    assert Build.objects.count() == 0


def test_longest_valid_key(owner_api, project):
    assert _post(owner_api, "/api/v1/builds", _create_body(project), "k" * 255).status_code == 201


@pytest.mark.parametrize(
    ("bad_body", "code"),
    [
        ({"git_branch": "main"}, 400),
        ({"project_id": "nope", "git_branch": "main"}, 400),
    ],
)
def test_a_failed_first_attempt_does_not_lock_the_key(owner_api, project, bad_body, code):
    assert _post(owner_api, "/api/v1/builds", bad_body, "retry-me").status_code == code
    again = _post(owner_api, "/api/v1/builds", bad_body, "retry-me")
    assert again.status_code == code and "Idempotent-Replayed" not in again

    fixed = _post(owner_api, "/api/v1/builds", _create_body(project), "retry-me")

    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed
    assert IdempotencyRecord.objects.get().response_status == 201


def test_a_conflict_does_not_lock_the_key(owner_api, project, make_build):
    build = make_build(project, status="in_progress")
    path = f"/api/v1/builds/{build.pk}/start"
    assert _post(owner_api, path, None, "start-key").status_code == 409
    Build.objects.filter(pk=build.pk).update(status="queued")

    assert _post(owner_api, path, None, "start-key").status_code == 200


def test_queue_full_does_not_lock_the_key(owner_api, project, tenant, make_build):
    tenant.max_queued_builds = 1
    tenant.save(update_fields=["max_queued_builds"])
    queued = make_build(project)
    assert _post(owner_api, "/api/v1/builds", _create_body(project), "k").status_code == 429
    Build.objects.filter(pk=queued.pk).update(status="success")

    assert _post(owner_api, "/api/v1/builds", _create_body(project), "k").status_code == 201


def test_a_key_expires_after_24_hours(owner_api, project):
    assert _post(owner_api, "/api/v1/builds", _create_body(project), "old").status_code == 201
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))

    response = _post(owner_api, "/api/v1/builds", _create_body(project, git_branch="dev"), "old")

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Build.objects.count() == 2


@pytest.mark.services
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_requests_with_the_same_key_create_one_build(
    race_settings, api, owner, tenant, make_project, run_concurrently, round_
):
    project = make_project(tenant, repository_url="file:///nonexistent/race-tests.git")
    pool = [api(owner, tenant) for _ in range(6)]

    responses = run_concurrently(lambda i: _post(pool[i], "/api/v1/builds", _create_body(project), "together"), 6)

    assert [r.status_code for r in responses] == [201] * 6, [r.content for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Counter(r.get("Idempotent-Replayed") for r in responses) == {None: 1, "true": 5}
    assert Build.objects.count() == 1


@pytest.mark.services
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_failing_requests_with_the_same_key_never_500(
    race_settings, api, owner, tenant, run_concurrently, round_
):
    pool = [api(owner, tenant) for _ in range(6)]

    responses = run_concurrently(lambda i: _post(pool[i], "/api/v1/builds", {"git_branch": "main"}, "fails"), 6)

    assert {r.status_code for r in responses} <= {400, 409}, [r.content for r in responses]
    assert IdempotencyRecord.objects.count() == 0


def test_a_reservation_abandoned_by_a_dead_request_is_taken_over(owner_api, owner, tenant, project):
    from datetime import timedelta

    from django.utils import timezone

    from builds.models import Build, IdempotencyRecord
    from builds.services.idempotency import ABANDONED_AFTER_SECONDS

    body = {"project_id": str(project.pk), "git_branch": "main"}
    first = owner_api.post("/api/v1/builds", body, format="json", HTTP_IDEMPOTENCY_KEY="died-mid-request")
    record = IdempotencyRecord.objects.get(key="died-mid-request")
    # What a request killed between reserving the key and committing leaves: a pending record, no build.
    Build.objects.filter(pk=first.json()["id"]).delete()
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=None,
        response_body=None,
        created_at=timezone.now() - timedelta(seconds=ABANDONED_AFTER_SECONDS + 1),
    )

    retried = owner_api.post("/api/v1/builds", body, format="json", HTTP_IDEMPOTENCY_KEY="died-mid-request")

    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Build.objects.filter(project=project).count() == 1


def test_a_recent_reservation_still_answers_in_progress(owner_api, project, monkeypatch):
    from builds.models import IdempotencyRecord

    monkeypatch.setattr("builds.api.idempotency.WAIT_FOR_FIRST_SECONDS", 0.1)
    body = {"project_id": str(project.pk), "git_branch": "main"}
    owner_api.post("/api/v1/builds", body, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    IdempotencyRecord.objects.filter(key="busy").update(response_status=None, response_body=None)

    response = owner_api.post("/api/v1/builds", body, format="json", HTTP_IDEMPOTENCY_KEY="busy")

    assert response.status_code == 409
    assert response.json()["details"]["reason"] == "idempotency_request_in_progress"
