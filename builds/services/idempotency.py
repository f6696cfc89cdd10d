"""Idempotency records: reserving a key for the first request, freeing it, purging old ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from builds.models import IdempotencyRecord
from imagefactory.core.errors import Conflict

HEADER = "Idempotency-Key"
ABANDONED_AFTER_SECONDS = 60  # far longer than any of the wrapped requests takes


def in_progress() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still in progress; retry shortly",
        details={"reason": "idempotency_request_in_progress", "header": HEADER},
    )


def reserve(*, tenant: Any, user: Any, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """(record, True) when this request holds the key now; (the holder's record, False) otherwise."""
    expired_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    scope = {"tenant": tenant, "user": user, "key": key}
    IdempotencyRecord.objects.filter(**scope, created_at__lt=expired_before).delete()
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(**scope, fingerprint=fingerprint), True
        except IntegrityError:
            # Another request holds the key; it may fail and free it before we read it back.
            existing = IdempotencyRecord.objects.filter(**scope).first()
            if existing is not None and not _take_over_if_abandoned(existing):
                return existing, False
    raise in_progress()


def _take_over_if_abandoned(record: IdempotencyRecord) -> bool:
    """A reservation whose request died is safe to take over: its writes were rolled back with it
    (the view and the stored response commit together). Deleted here, so only one taker wins."""
    cutoff = timezone.now() - timedelta(seconds=ABANDONED_AFTER_SECONDS)
    if record.response_status is not None or record.created_at >= cutoff:
        return False
    return bool(IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()[0])


def purge_expired_records() -> int:
    """Deletes records older than IDEMPOTENCY_TTL_SECONDS (run by the janitor)."""
    expired_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    return IdempotencyRecord.objects.filter(created_at__lt=expired_before).delete()[0]
