"""The webhooks app's background job by name, and how it is queued (imagefactory/core/jobs.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from imagefactory.core import jobs

DELIVER = "webhooks.deliver"


def queue_delivery(delivery_id: Any, *, countdown: float | None = None) -> None:
    """Call through ``transaction.on_commit``: the worker must see the delivery row."""
    jobs.enqueue(DELIVER, str(delivery_id), queue=settings.WEBHOOK_QUEUE, countdown=countdown)
