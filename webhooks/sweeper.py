"""The safety net of retries: a timer in every worker (and the embedded server) that queues due deliveries.

A retry is a delayed job held in memory (a Celery ETA, or a timer in the embedded server): a restart
loses it. The delivery row keeps its due time, so the sweep queues it again; a delivery queued twice
is sent once (webhooks/delivery.py claims it with a conditional UPDATE).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from webhooks.jobs import queue_delivery
from webhooks.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)
SWEEP_BATCH = 500

_lock = threading.Lock()
_thread: threading.Thread | None = None


def start() -> None:
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_sweep_forever, name="webhook-sweeper", daemon=True)
            _thread.start()


def _sweep_forever() -> None:
    stop = threading.Event()
    while not stop.wait(settings.WEBHOOK_SWEEP_INTERVAL_SECONDS):
        try:
            sweep()
        except Exception:
            logger.exception("webhook sweep failed")
        finally:
            close_old_connections()


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
