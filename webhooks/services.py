"""Webhook writes: subscriptions (create, change, rotate the secret, delete), recording events, redelivery."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from builds.api.serializers import BuildSerializer
from builds.models import Build, Project
from imagefactory.core.errors import Conflict
from tenants.models import Tenant
from webhooks.jobs import queue_delivery
from webhooks.models import Delivery, DeliveryStatus, Subscription
from webhooks.signer import new_secret


def create_subscription(
    *, tenant: Tenant, user: Any, url: str, events: list[str], project: Project | None = None
) -> Subscription:
    """The new subscription; its `secret` is readable now, and never shown again."""
    return Subscription.objects.create(
        tenant=tenant, url=url, events=_unique(events), project=project, secret=new_secret(), created_by=user
    )


def update_subscription(*, subscription: Subscription, changes: dict[str, Any]) -> Subscription:
    """Changes url, events, project and is_active; turning it on again forgets why it was off."""
    fields = ["updated_at"]
    for name in ("url", "project"):
        if name in changes:
            setattr(subscription, name, changes[name])
            fields.append(name)
    if "events" in changes:
        subscription.events = _unique(changes["events"])
        fields.append("events")
    if "is_active" in changes and changes["is_active"] != subscription.is_active:
        subscription.is_active = changes["is_active"]
        subscription.disabled_reason = "" if subscription.is_active else "Disabled by a user"
        subscription.disabled_at = None if subscription.is_active else timezone.now()
        subscription.failing_since = None
        fields += ["is_active", "disabled_reason", "disabled_at", "failing_since"]
    subscription.save(update_fields=fields)
    return subscription


def rotate_secret(*, subscription: Subscription) -> Subscription:
    subscription.secret = new_secret()
    subscription.save(update_fields=["secret", "updated_at"])
    return subscription


def delete_subscription(*, subscription: Subscription) -> None:
    subscription.delete()


def _unique(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


def event_body(*, delivery_id: uuid.UUID, event: str, build: Build, at: Any) -> str:
    """The JSON body: the event, the delivery id, when it happened and the build as GET /builds/{id} shows it."""
    document = {
        "event": event,
        "delivery_id": str(delivery_id),
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "build": BuildSerializer(build).data,
    }
    return json.dumps(document, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":"))


def record_event(*, build_id: Any, event: str) -> list[Delivery]:
    """One pending delivery per active subscription of the build's tenant that wants `event`,
    queued after commit. Runs inside the transaction of the build's change (builds.signals)."""
    # On every winning move, subscribers or not: the tenant comes in the same query.
    build = Build.objects.select_related("tenant").filter(pk=build_id).first()
    if build is None:
        return []
    subscriptions = [
        subscription
        for subscription in Subscription.objects.for_tenant(build.tenant).filter(is_active=True)
        if subscription.wants(event, build.project_id)
    ]
    now = timezone.now()
    recorded = []
    for subscription in subscriptions:
        # The row lock of this UPDATE orders the events of one subscription by commit.
        Subscription.objects.filter(pk=subscription.pk).update(last_sequence=F("last_sequence") + 1)
        sequence = Subscription.objects.filter(pk=subscription.pk).values_list("last_sequence", flat=True).get()
        delivery_id = uuid.uuid4()
        recorded.append(
            Delivery.objects.create(
                id=delivery_id,
                tenant_id=build.tenant_id,
                subscription=subscription,
                sequence=sequence,
                event=event,
                build_id=build.pk,
                body=event_body(delivery_id=delivery_id, event=event, build=build, at=now),
                next_attempt_at=now,
                retry_until=now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS),
                created_at=now,
            )
        )
    for delivery in recorded:
        transaction.on_commit(lambda pk=delivery.pk: queue_delivery(pk), robust=True)
    return recorded


def redeliver(*, delivery: Delivery) -> Delivery:
    """Sends the same body again (same delivery id), now, with a fresh retry window."""
    now = timezone.now()
    with transaction.atomic():
        moved = (
            Delivery.objects.filter(pk=delivery.pk)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                retry_until=now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS),
                completed_at=None,
                claimed_until=None,
            )
        )
        if not moved:
            raise Conflict("This delivery is being sent right now", details={"status": delivery.status})
        transaction.on_commit(lambda: queue_delivery(delivery.pk), robust=True)
    delivery.refresh_from_db()
    return delivery
