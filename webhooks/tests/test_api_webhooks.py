"""/webhooks: CRUD by owners, the secret shown once, validation, isolation, the delivery log, redelivery."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from builds.services import builds as build_services
from testing import assert_envelope
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db
URL = "https://ci.example.com/hooks/imagefactory"


def create(client, **body):
    body = {"url": URL, "events": ["build.*"], **body}
    return client.post("/api/v1/webhooks", body, format="json")


def test_create_shows_the_secret_once_and_stores_it_encrypted(owner_api, tenant, project):
    response = create(owner_api, events=["build.succeeded", "build.failed", "build.failed"], project_id=str(project.pk))

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert (created["events"], created["project_id"], created["is_active"]) == (
        ["build.succeeded", "build.failed"],
        str(project.pk),
        True,
    )
    shown = owner_api.get(f"/api/v1/webhooks/{created['id']}").json()
    listed = owner_api.get("/api/v1/webhooks").json()
    assert "secret" not in shown and "secret" not in listed["webhooks"][0]
    assert listed["total_count"] == 1
    raw = Cast("secret", output_field=TextField())  # the column as stored, not decrypted
    stored = Subscription.objects.filter(pk=created["id"]).values_list(raw, flat=True).get()
    assert created["secret"] not in stored  # ciphertext in the column
    assert Subscription.objects.get(pk=created["id"]).secret == created["secret"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://ci.example.com/x"},
        {"url": "https://user:pw@ci.example.com/x"},
        {"url": "not a url"},
        {"url": "https://ci.example.com:99999/x"},
        {"url": 5},
        {"events": []},
        {"events": ["build.exploded"]},
        {"events": "build.*"},
        {"project_id": "nope"},
        {"secret": "mine"},
    ],
)
def test_invalid_bodies_are_400(owner_api, body):
    assert_envelope(create(owner_api, **body), 400, "INVALID_REQUEST")


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_is_active_takes_json_booleans_only(owner_api, value):
    webhook = create(owner_api).json()

    response = owner_api.patch(f"/api/v1/webhooks/{webhook['id']}", {"is_active": value}, format="json")

    assert_envelope(response, 400, "INVALID_REQUEST")


def test_another_tenants_project_is_an_unknown_project(owner_api, make_tenant, make_project):
    foreign = make_project(make_tenant("other"))

    response = create(owner_api, project_id=str(foreign.pk))

    assert_envelope(response, 400, "INVALID_REQUEST")
    assert response.json()["details"] == {"project_id": "No such project in this tenant."}


def test_update_rotate_and_delete(owner_api):
    created = create(owner_api).json()
    path = f"/api/v1/webhooks/{created['id']}"
    Subscription.objects.filter(pk=created["id"]).update(is_active=False, disabled_reason="kept failing")

    updated = owner_api.patch(path, {"is_active": True, "events": ["build.failed"]}, format="json")
    rotated = owner_api.post(f"{path}/rotate-secret")

    assert updated.status_code == 200
    assert (updated.json()["is_active"], updated.json()["disabled_reason"], updated.json()["events"]) == (
        True,
        "",
        ["build.failed"],
    )
    assert rotated.status_code == 200 and rotated.json()["secret"] not in ("", created["secret"])
    assert owner_api.delete(path).status_code == 204
    assert_envelope(owner_api.get(path), 404, "NOT_FOUND")


def test_developers_may_not_manage_webhooks(api, make_user, tenant, roles):
    developer = make_user()
    tenant.memberships.create(user=developer, role=roles["developer"])

    response = api(developer, tenant).get("/api/v1/webhooks")

    assert_envelope(response, 403, "FORBIDDEN")
    assert response.json()["details"]["permission"] == "webhook:manage"


def test_another_tenants_webhook_answers_like_a_missing_one(api, make_user, make_tenant, owner_api):
    stranger = make_user()
    other = make_tenant("other", members={stranger: "owner"})
    foreign = create(api(stranger, other)).json()

    for path in (f"/api/v1/webhooks/{foreign['id']}", f"/api/v1/webhooks/{uuid.uuid4()}"):
        assert_envelope(owner_api.get(path), 404, "NOT_FOUND")
        assert_envelope(owner_api.get(f"{path}/deliveries"), 404, "NOT_FOUND")
    assert owner_api.get("/api/v1/webhooks").json()["total_count"] == 0


def test_list_endpoints_make_the_same_number_of_queries_whatever_the_page_size(owner_api, tenant, project, owner):
    webhook = create(owner_api).json()
    create(owner_api)
    for _ in range(3):
        build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    Delivery.objects.first().attempts.create(
        number=1, started_at=timezone.now(), duration_ms=5, outcome="success", status_code=200
    )

    def queries(path: str, limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_api.get(path, {"limit": limit}).status_code == 200
        return len(captured)

    deliveries = f"/api/v1/webhooks/{webhook['id']}/deliveries"
    assert queries(deliveries, 1) == queries(deliveries, 3)
    assert queries("/api/v1/webhooks", 1) == queries("/api/v1/webhooks", 2)


def test_the_delivery_log_and_redeliver(owner_api, tenant, project, owner, django_assert_max_num_queries):
    created = create(owner_api).json()
    for _ in range(3):
        build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    first = Delivery.objects.filter(subscription_id=created["id"]).order_by("sequence").first()
    Delivery.objects.filter(pk=first.pk).update(status="failed", last_error="HTTP 500")

    with django_assert_max_num_queries(12):
        log = owner_api.get(f"/api/v1/webhooks/{created['id']}/deliveries?limit=2").json()
    redelivered = owner_api.post(f"/api/v1/webhooks/{created['id']}/deliveries/{first.pk}/redeliver")

    assert (log["total_count"], [d["sequence"] for d in log["deliveries"]]) == (3, [3, 2])
    assert log["deliveries"][0]["event"] == "build.created" and log["deliveries"][0]["attempts"] == []
    assert redelivered.status_code == 202
    assert (redelivered.json()["id"], redelivered.json()["status"]) == (str(first.pk), "pending")


def test_redeliver_of_a_delivery_of_another_webhook_is_404(owner_api, tenant, project, owner):
    one, two = create(owner_api).json(), create(owner_api).json()
    build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    of_two = Delivery.objects.get(subscription_id=two["id"])

    response = owner_api.post(f"/api/v1/webhooks/{one['id']}/deliveries/{of_two.pk}/redeliver")

    assert_envelope(response, 404, "NOT_FOUND")
