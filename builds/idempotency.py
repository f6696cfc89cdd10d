"""Idempotency-Key support for POST endpoints: replay the first success, refuse reuse."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from builds.models import IdempotencyRecord
from imagefactory.core.errors import Conflict, InvalidRequest

HEADER = "Idempotency-Key"
WAIT_FOR_FIRST_SECONDS = 10.0
ABANDONED_AFTER_SECONDS = 60  # far longer than any of the wrapped requests takes
REPLAYED_HEADERS = ("Location",)


def _fingerprint(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    except Exception:  # noqa: BLE001 — unparsable bodies fail later in the view itself
        body = ""
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _validated_key(raw: str) -> str:
    key = raw.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidRequest("Invalid Idempotency-Key header",
                             details={"header": HEADER, "reason": "Must be 1-255 printable characters."})
    return key


def _reserve(request, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    expired_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    scope = dict(tenant=request.tenant, user=request.user, key=key)
    IdempotencyRecord.objects.filter(**scope, created_at__lt=expired_before).delete()
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(**scope, fingerprint=fingerprint), True
        except IntegrityError:
            # Another request holds the key; it may fail and free it before we read it back.
            existing = IdempotencyRecord.objects.filter(**scope).first()
            if existing is not None and not _abandoned(existing):
                return existing, False
    raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly",
                   details={"reason": "idempotency_request_in_progress", "header": HEADER})


def _abandoned(record: IdempotencyRecord) -> bool:
    """A reservation whose request died: safe to take over, since its writes were rolled back with it
    (the view and the stored response commit together). Deleted here, so only one taker wins."""
    cutoff = timezone.now() - timedelta(seconds=ABANDONED_AFTER_SECONDS)
    if record.response_status is not None or record.created_at >= cutoff:
        return False
    return bool(IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()[0])


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was already used with a different request",
                       details={"reason": "idempotency_key_reused", "header": HEADER})
    deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
    while record.response_status is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the first request with this key is still running
        record = IdempotencyRecord.objects.filter(pk=record.pk).first()
        if record is None:
            break
    if record is None or record.response_status is None:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly",
                       details={"reason": "idempotency_request_in_progress", "header": HEADER})
    response = Response(record.response_body, status=record.response_status)
    for name, value in record.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(view_method):
    """Wraps a POST handler. Only successful responses are kept; failures free the key again."""

    @wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        raw = request.headers.get(HEADER)
        if raw is None:
            return view_method(view, request, *args, **kwargs)
        key = _validated_key(raw)
        fingerprint = _fingerprint(request)
        record, reserved = _reserve(request, key, fingerprint)
        if not reserved:
            return _replay(record, fingerprint)
        try:
            # The view's writes and the stored response commit together: a key is never left
            # "done" without its effects, nor its effects without the key.
            with transaction.atomic():
                response = view_method(view, request, *args, **kwargs)
                if response.status_code < 300:
                    record.response_status = response.status_code
                    record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
                    record.response_headers = {h: response[h] for h in REPLAYED_HEADERS if h in response}
                    record.save(update_fields=["response_status", "response_body", "response_headers"])
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 300:
            record.delete()
        return response

    return wrapper


def purge_expired_records() -> int:
    """Deletes records older than IDEMPOTENCY_TTL_SECONDS (run by the reaper)."""
    expired_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    return IdempotencyRecord.objects.filter(created_at__lt=expired_before).delete()[0]
