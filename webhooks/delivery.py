"""Sending one delivery: claim it, POST it (webhooks/sender.py), record the attempt, retry or move on.

Order: the events of one build reach a subscription in the order they happened. A delivery is sent
only when no earlier delivery of the same subscription and build is pending; when one ends
(delivered or given up), the next of its chain is queued.

At least once: the claim is a conditional UPDATE with a lease (``claimed_until``), so two workers
never send a delivery at the same moment; a sender that dies leaves the lease to expire, and the
sweep queues the delivery again.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webhooks import sender
from webhooks.backoff import retry_delay
from webhooks.jobs import queue_delivery
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Subscription
from webhooks.signer import SIGNATURE_HEADER, signature

logger = logging.getLogger(__name__)
USER_AGENT = "ImageFactory-Webhooks/1"


def _free(now: Any) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _earlier_pending(delivery: Delivery) -> bool:
    return Delivery.objects.filter(
        subscription_id=delivery.subscription_id,
        build_id=delivery.build_id,
        status=DeliveryStatus.PENDING,
        sequence__lt=delivery.sequence,
    ).exists()


def _next_in_chain(delivery: Delivery) -> uuid.UUID | None:
    return (
        Delivery.objects.filter(
            subscription_id=delivery.subscription_id,
            build_id=delivery.build_id,
            status=DeliveryStatus.PENDING,
            sequence__gt=delivery.sequence,
        )
        .order_by("sequence")
        .values_list("pk", flat=True)
        .first()
    )


def claim(delivery_id: Any) -> Delivery | None:
    """The delivery, held by this sender for a lease, if it is due, free and first of its chain."""
    delivery = Delivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    now = timezone.now()
    if delivery is None or delivery.status != DeliveryStatus.PENDING or _earlier_pending(delivery):
        return None
    lease = now + timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    won = Delivery.objects.filter(
        _free(now), pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(claimed_until=lease)
    return delivery if won else None


def attempt(delivery_id: Any) -> None:
    """One attempt at `delivery_id` (the task webhooks.deliver); does nothing if it is not this sender's turn."""
    delivery = claim(delivery_id)
    if delivery is None:
        return
    subscription = delivery.subscription
    if not subscription.is_active:
        _end(delivery, DeliveryStatus.FAILED, error="The subscription is disabled")
        return
    timestamp = int(time.time())
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-ImageFactory-Event": delivery.event,
        "X-ImageFactory-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: signature(subscription.secret, body, timestamp),
    }
    started = timezone.now()
    result = sender.post(
        subscription.url,
        body,
        headers,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        allowed=sender.parse_networks(settings.WEBHOOK_ALLOWED_NETWORKS),
    )
    record(delivery, result, started=started)


def record(delivery: Delivery, result: sender.Result, *, started: Any) -> None:
    """Stores the attempt and decides: delivered, retry later, or given up (then the next event goes)."""
    now = timezone.now()
    number = delivery.attempt_count + 1
    with transaction.atomic():
        if not Delivery.objects.filter(pk=delivery.pk).exists():
            return  # its subscription was deleted while it was being sent
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started,
            duration_ms=result.duration_ms,
            outcome=result.outcome,
            status_code=result.status_code,
            address=result.address,
            error=result.error[:2000],
            response_excerpt=result.excerpt,
        )
        common = {"attempt_count": number, "last_status_code": result.status_code, "last_error": result.error[:2000]}
        if result.ok:
            Subscription.objects.filter(pk=delivery.subscription_id).update(failing_since=None)
            _end(delivery, DeliveryStatus.DELIVERED, **common)
            return
        Subscription.objects.filter(pk=delivery.subscription_id, failing_since__isnull=True).update(failing_since=now)
        disabled = _disable_if_failing_too_long(delivery.subscription_id, now=now)
        # A refused target is refused again on the next attempt: no retries (redeliver after fixing it).
        if result.outcome == sender.REFUSED or disabled or now >= delivery.retry_until:
            _end(delivery, DeliveryStatus.FAILED, **common)
            return
        delay = retry_delay(
            number, base=settings.WEBHOOK_RETRY_BASE_SECONDS, cap=settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS
        )
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=now + timedelta(seconds=delay), claimed_until=None, **common
        )
        transaction.on_commit(lambda: queue_delivery(delivery.pk, countdown=delay), robust=True)
    logger.info("webhook delivery %s failed (%s); retry in %.1f s", delivery.pk, result.error, delay)


def _end(delivery: Delivery, status: str, **changes: Any) -> None:
    """Delivered or given up: releases the claim and queues the next event of the chain."""
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=status, completed_at=timezone.now(), claimed_until=None, **changes
        )
        following = _next_in_chain(delivery)
        if following is not None:
            transaction.on_commit(lambda: queue_delivery(following), robust=True)


def _disable_if_failing_too_long(subscription_id: Any, *, now: Any) -> bool:
    """Turns off a subscription that has failed for WEBHOOK_DISABLE_AFTER_SECONDS; its pending deliveries fail."""
    since = now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    disabled = Subscription.objects.filter(pk=subscription_id, is_active=True, failing_since__lte=since).update(
        is_active=False,
        disabled_at=now,
        disabled_reason=(
            f"Disabled at {now:%Y-%m-%d %H:%M} UTC: its deliveries kept failing for "
            f"{settings.WEBHOOK_DISABLE_AFTER_SECONDS} s. Fix the receiver, set is_active again and redeliver."
        ),
    )
    if disabled:
        Delivery.objects.filter(subscription_id=subscription_id, status=DeliveryStatus.PENDING).filter(
            _free(now)
        ).update(status=DeliveryStatus.FAILED, completed_at=now, last_error="The subscription was disabled")
        logger.warning("webhook subscription %s disabled after failing for too long", subscription_id)
    return bool(disabled)
