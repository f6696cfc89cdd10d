"""Sending deliveries against a real receiver on loopback: signature, order, retries, giving up, disabling."""

from __future__ import annotations

import json
import time

import pytest
from django.utils import timezone

from builds.services import builds as build_services
from webhooks import delivery as sending
from webhooks import services, sweeper
from webhooks.models import Delivery, DeliveryStatus
from webhooks.signer import verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_events(subscribe, receiver, loopback_allowed, tenant, project, owner):
    """A subscription to the receiver and a created + started build: two pending deliveries, in order."""
    subscription = subscribe(receiver.url)
    build = build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    build_services.start_build(build=build, user=owner)
    created, started = Delivery.objects.filter(subscription=subscription).order_by("sequence")
    return subscription, created, started


def test_a_delivery_is_signed_and_logged(two_events, receiver):
    subscription, created, _ = two_events

    sending.attempt(created.pk)

    (request,) = receiver.received
    assert request.body == created.body.encode()
    assert verify(subscription.secret, request.body, request.headers["x-imagefactory-signature"], now=time.time())
    assert request.headers["x-imagefactory-event"] == "build.created"
    assert request.headers["x-imagefactory-delivery"] == str(created.pk) == json.loads(request.body)["delivery_id"]
    created.refresh_from_db()
    assert (created.status, created.attempt_count, created.last_status_code) == (DeliveryStatus.DELIVERED, 1, 200)
    (logged,) = created.attempts.all()
    assert (logged.outcome, logged.status_code, logged.response_excerpt, logged.address) == (
        "success",
        200,
        "ok",
        "127.0.0.1",
    )


def test_a_later_event_waits_for_the_earlier_one(two_events, receiver):
    _, created, started = two_events

    sending.attempt(started.pk)  # created is still pending: not its turn
    assert receiver.received == []

    sending.attempt(created.pk)
    sending.attempt(started.pk)
    events = [json.loads(body)["event"] for body in receiver.bodies()]
    assert events == ["build.created", "build.started"]


def test_a_failed_attempt_is_retried_later_and_a_second_call_now_sends_nothing(two_events, receiver):
    subscription, created, _ = two_events
    receiver.status = 503

    sending.attempt(created.pk)
    sending.attempt(created.pk)  # not due yet

    created.refresh_from_db()
    subscription.refresh_from_db()
    assert len(receiver.received) == 1
    assert (created.status, created.attempt_count, created.last_error) == ("pending", 1, "HTTP 503 Service Unavailable")
    assert created.next_attempt_at > timezone.now() and created.claimed_until is None
    assert subscription.failing_since is not None and subscription.is_active


def test_after_the_retry_window_it_fails_and_the_next_event_goes(two_events, receiver, settings):
    _, created, started = two_events
    settings.WEBHOOK_RETRY_FOR_SECONDS = 0
    Delivery.objects.filter(pk=created.pk).update(retry_until=timezone.now())
    receiver.status = 500

    sending.attempt(created.pk)
    receiver.status = 200
    sending.attempt(started.pk)

    created.refresh_from_db()
    started.refresh_from_db()
    assert (created.status, started.status) == ("failed", "delivered")


def test_a_subscription_failing_too_long_is_disabled_and_says_so(two_events, receiver, settings):
    subscription, created, started = two_events
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    receiver.status = 500

    sending.attempt(created.pk)

    subscription.refresh_from_db()
    assert not subscription.is_active and subscription.disabled_at is not None
    assert "kept failing" in subscription.disabled_reason
    assert set(Delivery.objects.filter(subscription=subscription).values_list("status", flat=True)) == {"failed"}


def test_a_loopback_target_without_the_allow_list_is_refused_recorded_and_not_retried(
    subscribe, receiver, tenant, project, owner
):
    subscription = subscribe(receiver.url, events=["build.created"])
    build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    delivery = Delivery.objects.get(subscription=subscription)

    sending.attempt(delivery.pk)

    delivery.refresh_from_db()
    assert receiver.received == []
    assert delivery.status == "failed" and "loopback" in delivery.last_error
    (logged,) = delivery.attempts.all()
    assert (logged.outcome, logged.address, logged.status_code) == ("refused", "127.0.0.1", None)


def test_redeliver_sends_the_same_body_again(two_events, receiver):
    _, created, _ = two_events
    sending.attempt(created.pk)
    created.refresh_from_db()

    services.redeliver(delivery=created)
    sending.attempt(created.pk)

    created.refresh_from_db()
    assert receiver.bodies() == [created.body.encode()] * 2
    assert (created.status, created.attempt_count, created.attempts.count()) == ("delivered", 2, 2)


def test_the_sweep_queues_overdue_deliveries_only(two_events, settings, monkeypatch):
    _, created, started = two_events
    queued = []
    monkeypatch.setattr(sweeper, "queue_delivery", queued.append)
    settings.WEBHOOK_SWEEP_INTERVAL_SECONDS = 0

    assert sweeper.sweep() == 2
    Delivery.objects.filter(pk=created.pk).update(claimed_until=timezone.now() + timezone.timedelta(minutes=1))
    settings.WEBHOOK_SWEEP_INTERVAL_SECONDS = 3600
    assert sweeper.sweep() == 0
    assert queued == [created.pk, started.pk]
