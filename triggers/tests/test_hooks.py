"""POST /api/v1/hooks/{trigger_id}: signatures, outcomes, idempotency, superseded builds, limits, the log."""

from __future__ import annotations

import pytest

from builds.models import Build, BuildStatus
from testing import assert_envelope
from triggers.models import DELIVERIES_KEPT, TriggerDelivery

pytestmark = pytest.mark.django_db

COMMIT = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea", "generic"])
def test_a_signed_push_to_a_matching_branch_creates_and_starts_a_build(kind, project, make_trigger, deliver):
    trigger, secret = make_trigger(project, kind, branch_patterns=["main"], build_args={"GREETING": "hook"})

    response = deliver(trigger, secret, commit=COMMIT.upper(), delivery=f"{kind}-1")

    assert response.status_code == 201, response.content
    body = response.json()
    build = Build.objects.get(pk=body["build_id"])
    assert (body["outcome"], body["delivery_id"], body["duplicate"]) == ("built", f"{kind}-1", False)
    assert response["Location"].endswith(f"/api/v1/builds/{build.pk}")
    assert (build.status, build.git_branch, build.git_commit) == (BuildStatus.IN_PROGRESS, "main", COMMIT)
    assert build.build_args == {"GREETING": "hook"}
    assert (build.trigger_id, build.trigger_delivery_id) == (trigger.pk, f"{kind}-1")
    assert build.triggered_by and build.created_by is None
    delivery = TriggerDelivery.objects.get(trigger=trigger)
    assert (delivery.outcome, delivery.status_code, delivery.build_id, delivery.commit) == (
        "built",
        201,
        build.pk,
        COMMIT,
    )


def test_the_build_resource_says_what_triggered_it(project, make_trigger, deliver, owner_api, make_build):
    trigger, secret = make_trigger(project)
    build_id = deliver(trigger, secret, delivery="d-1").json()["build_id"]
    project.refresh_from_db()  # the hook's build moved the counter
    by_api = make_build(project)

    triggered = owner_api.get(f"/api/v1/builds/{build_id}").json()
    plain = owner_api.get(f"/api/v1/builds/{by_api.pk}").json()

    assert triggered["trigger"] == {"trigger_id": str(trigger.pk), "delivery_id": "d-1", "triggered_by": "Codertocat"}
    assert plain["trigger"] is None


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea", "generic"])
def test_a_wrong_or_missing_signature_is_401_and_leaves_no_trace(kind, project, make_trigger, deliver):
    trigger, secret = make_trigger(project, kind)

    wrong = deliver(trigger, secret, sign_with="not-the-secret")
    bare = deliver(
        trigger,
        secret,
        headers={
            "X-Hub-Signature-256": "",
            "X-Gitea-Signature": "",
            "X-Gitlab-Token": "",
            "X-ImageFactory-Signature": "",
        },
    )

    assert_envelope(wrong, 401, "UNAUTHORIZED")
    assert_envelope(bare, 401, "UNAUTHORIZED")
    assert not Build.objects.exists()
    assert not TriggerDelivery.objects.exists()


def test_a_rotated_secret_replaces_the_old_one(project, make_trigger, deliver, owner_api):
    trigger, old = make_trigger(project)
    response = owner_api.post(f"/api/v1/projects/{project.pk}/triggers/{trigger.pk}/rotate-secret")
    new = response.json()["secret"]

    assert new != old
    assert_envelope(deliver(trigger, old), 401, "UNAUTHORIZED")
    assert deliver(trigger, new).status_code == 201


def test_a_ping_answers_200_and_builds_nothing(project, make_trigger, deliver):
    trigger, secret = make_trigger(project)
    response = deliver(trigger, secret, event="ping", payload={"zen": "Design for failure.", "hook_id": 1})
    assert response.status_code == 200
    assert response.json()["outcome"] == "ping"
    assert not Build.objects.exists()


@pytest.mark.parametrize(
    ("kind", "changes", "reason"),
    [
        ("github", {"branch": "feature/x"}, "matches none of"),
        ("gitlab", {"branch": "feature/x"}, "matches none of"),
        ("github", {"commit": "0" * 40}, "Branch deleted"),
        ("gitea", {"commit": "0" * 40}, "Branch deleted"),
        ("github", {"ref": "refs/tags/v1.0"}, "Tag push"),
        ("gitlab", {"ref": "refs/tags/v1.0", "event": "tag"}, "Tag push"),
        ("github", {"event": "issues"}, "not a push"),
    ],
)
def test_pushes_that_build_nothing_answer_202_with_the_reason(kind, changes, reason, project, make_trigger, deliver):
    trigger, secret = make_trigger(project, kind, branch_patterns=["main", "release/*"])

    response = deliver(trigger, secret, **changes)

    assert response.status_code == 202, response.content
    assert reason in response.json()["message"]
    assert response.json()["build_id"] is None
    assert not Build.objects.exists()
    assert TriggerDelivery.objects.get(trigger=trigger).outcome == "ignored"


def test_release_branches_match_their_glob(project, make_trigger, deliver):
    trigger, secret = make_trigger(project, branch_patterns=["main", "release/*"])
    assert deliver(trigger, secret, branch="release/2.1").status_code == 201
    assert Build.objects.get().git_branch == "release/2.1"


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_a_payload_naming_another_repository_is_422(kind, project, make_trigger, deliver):
    trigger, secret = make_trigger(project, kind)

    response = deliver(trigger, secret, repository_url="https://git.example.com/someone-else/app.git")

    body = assert_envelope(response, 422, "UNPROCESSABLE_ENTITY")
    assert body["details"]["reason"] == "repository_mismatch"
    assert not Build.objects.exists()
    assert TriggerDelivery.objects.get(trigger=trigger).status_code == 422


def test_the_project_url_may_differ_in_scheme_and_suffix(make_project, tenant, make_trigger, deliver):
    project = make_project(tenant, repository_url="ssh://git@git.example.com/team/app")
    trigger, secret = make_trigger(project)
    assert deliver(trigger, secret, repository_url="https://git.example.com/team/app.git").status_code == 201


def test_the_same_delivery_twice_makes_one_build(project, make_trigger, deliver):
    trigger, secret = make_trigger(project)

    first = deliver(trigger, secret, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = deliver(trigger, secret, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["build_id"] == first.json()["build_id"]
    assert Build.objects.count() == 1
    assert TriggerDelivery.objects.count() == 1


def test_a_newer_push_cancels_the_branchs_builds_that_do_not_run_yet(project, make_trigger, deliver):
    trigger, secret = make_trigger(project)
    waiting = Build.objects.get(pk=deliver(trigger, secret, commit=COMMIT).json()["build_id"])
    running = Build.objects.get(pk=deliver(trigger, secret, commit="b" * 40).json()["build_id"])
    other_branch_trigger, other_secret = make_trigger(project, branch_patterns=["dev"])
    elsewhere = deliver(other_branch_trigger, other_secret, branch="dev").json()["build_id"]
    # `waiting` was cancelled by `running`'s push already; a worker claims `running` now.
    Build.objects.filter(pk=running.pk).update(slot_acquired_at="2026-01-01T00:00:00Z")

    newest = deliver(trigger, secret, commit=OTHER_COMMIT)

    waiting.refresh_from_db()
    running.refresh_from_db()
    assert newest.status_code == 201
    assert (waiting.status, waiting.cancel_reason) == (
        "cancelled",
        f"Superseded by build #{running.build_number} (bbbbbbbbbbbb)",
    )
    assert running.status == "in_progress"  # already running: it goes on
    assert Build.objects.get(pk=elsewhere).status == "in_progress"
    assert Build.objects.get(pk=newest.json()["build_id"]).status == "in_progress"


def test_without_cancel_superseded_older_builds_go_on(project, make_trigger, deliver):
    trigger, secret = make_trigger(project, cancel_superseded=False)
    first = deliver(trigger, secret, commit=COMMIT).json()["build_id"]
    deliver(trigger, secret, commit=OTHER_COMMIT)
    assert Build.objects.get(pk=first).status == "in_progress"


def test_bodies_over_one_mib_are_413(project, make_trigger, deliver):
    trigger, secret = make_trigger(project)
    payload = {"ref": "refs/heads/main", "after": COMMIT, "padding": "x" * (1024 * 1024)}

    response = deliver(trigger, secret, payload=payload)

    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert not TriggerDelivery.objects.exists()


def test_unknown_and_malformed_trigger_ids(client):
    import uuid

    assert_envelope(
        client.post(f"/api/v1/hooks/{uuid.uuid4()}", b"{}", content_type="application/json"), 404, "NOT_FOUND"
    )
    assert_envelope(client.post("/api/v1/hooks/nope", b"{}", content_type="application/json"), 400, "INVALID_REQUEST")


def test_deliveries_are_rate_limited_per_trigger(settings, project, make_trigger, deliver):
    settings.HOOK_RATE_LIMIT, settings.HOOK_RATE_WINDOW_SECONDS = 3, 86400
    trigger, secret = make_trigger(project)
    statuses = [deliver(trigger, secret, event="ping", payload={}).status_code for _ in range(4)]
    other, other_secret = make_trigger(project)

    assert statuses == [200, 200, 200, 429]
    assert deliver(other, other_secret, event="ping", payload={}).status_code == 200


def test_deliveries_are_rate_limited_per_client_address(settings, project, make_trigger, deliver):
    settings.HOOK_ADDRESS_RATE_LIMIT, settings.HOOK_RATE_WINDOW_SECONDS = 2, 86400
    triggers = [make_trigger(project) for _ in range(3)]
    statuses = [deliver(trigger, secret, event="ping", payload={}).status_code for trigger, secret in triggers]
    assert statuses == [200, 200, 429]


def test_the_delivery_log_keeps_the_last_100(project, make_trigger, deliver, owner_api):
    trigger, secret = make_trigger(project)
    TriggerDelivery.objects.bulk_create(
        TriggerDelivery(trigger=trigger, delivery_id=f"old-{i}", event="ping", outcome="ping", status_code=200)
        for i in range(DELIVERIES_KEPT)
    )

    deliver(trigger, secret, delivery="newest", branch="nomatch")

    kept = TriggerDelivery.objects.filter(trigger=trigger)
    assert kept.count() == DELIVERIES_KEPT
    page = owner_api.get(f"/api/v1/projects/{project.pk}/triggers/{trigger.pk}/deliveries?limit=5").json()
    assert page["total_count"] == DELIVERIES_KEPT
    first = page["deliveries"][0]
    assert (first["delivery_id"], first["outcome"], first["status_code"], first["branch"]) == (
        "newest",
        "ignored",
        202,
        "nomatch",
    )


def test_a_suspended_tenant_builds_nothing(project, tenant, make_trigger, deliver):
    from tenants.models import Tenant, TenantStatus

    trigger, secret = make_trigger(project)
    Tenant.objects.filter(pk=tenant.pk).update(status=TenantStatus.SUSPENDED)
    assert_envelope(deliver(trigger, secret), 403, "FORBIDDEN")
    assert not Build.objects.exists()


def test_a_build_the_tenants_limits_refuse_is_429_and_its_redelivery_builds(
    project, tenant, make_trigger, deliver, make_build
):
    trigger, secret = make_trigger(project)
    tenant.max_queued_builds = 1
    tenant.save(update_fields=["max_queued_builds"])
    blocker = make_build(project)  # queued: the tenant's queue is full

    refused = deliver(trigger, secret, delivery="retry-me")
    blocker.delete()
    redelivered = deliver(trigger, secret, delivery="retry-me")

    assert_envelope(refused, 429, "RATE_LIMITED")
    assert redelivered.status_code == 201, redelivered.content
    assert Build.objects.filter(trigger=trigger).count() == 1
    assert list(TriggerDelivery.objects.values_list("outcome", "status_code")) == [("built", 201)]
