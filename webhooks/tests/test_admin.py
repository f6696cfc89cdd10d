"""Webhooks in the admin: the secret never on a page, the delivery log with its attempts, redelivery."""

from __future__ import annotations

import pytest

from builds.services import builds as build_services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db
DELIVERIES = "/admin/webhooks/delivery/"


@pytest.fixture
def operator_browser(client, make_user):
    client.force_login(make_user("operator@example.com", superuser=True))
    return client


def test_the_subscription_page_never_shows_the_secret(operator_browser, subscribe):
    subscription = subscribe("https://ci.example.com/hook")

    page = operator_browser.get(f"/admin/webhooks/subscription/{subscription.pk}/change/")

    assert page.status_code == 200
    assert b"ci.example.com/hook" in page.content and subscription.secret.encode() not in page.content


def test_redeliver_action_and_the_attempts_on_a_delivery_page(operator_browser, subscribe, tenant, project, owner):
    subscribe("https://ci.example.com/hook")
    build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempt_count=1)
    delivery.attempts.create(
        number=1,
        started_at=delivery.created_at,
        duration_ms=12,
        outcome="http_error",
        status_code=500,
        error="HTTP 500",
    )

    listed = operator_browser.get(DELIVERIES)
    shown = operator_browser.get(f"{DELIVERIES}{delivery.pk}/change/")
    acted = operator_browser.post(
        DELIVERIES, {"action": "redeliver", "_selected_action": [str(delivery.pk)]}, follow=True
    )

    assert listed.status_code == 200 and b"build.created" in listed.content
    assert shown.status_code == 200 and b"HTTP 500" in shown.content
    assert b"1 deliveries queued again" in acted.content
    delivery.refresh_from_db()
    assert delivery.status == "pending"
