"""The safety net of retries: a timer in every worker (and the embedded server) that queues due deliveries.

A retry is a delayed job held in memory (a Celery ETA, or a timer in the embedded server): a restart
loses it. The delivery row keeps its due time, so the sweep queues it again; a delivery queued twice
is sent once (webhooks/delivery.py claims it with a conditional UPDATE).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from imagefactory.core.jobs import Periodic
from webhooks.jobs import queue_delivery
from webhooks.models import Delivery, DeliveryStatus

SWEEP_BATCH = 500


def start() -> None:
    """Starts this process's sweep timer once."""
    _timer.start()


def sweep() -> int:
    """Queues pending deliveries overdue by a sweep interval and held by no sender; how many."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.WEBHOOK_SWEEP_INTERVAL_SECONDS)
    ids = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("sequence")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for delivery_id in ids:
        queue_delivery(delivery_id)
    return len(ids)


_timer = Periodic("webhook-sweeper", sweep, interval=lambda: settings.WEBHOOK_SWEEP_INTERVAL_SECONDS)
