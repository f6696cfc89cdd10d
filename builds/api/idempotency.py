"""Idempotency-Key support for POST endpoints: replay the first success, refuse reuse."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import transaction
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from builds.models import IdempotencyRecord
from builds.services.idempotency import HEADER, in_progress, reserve
from imagefactory.core.errors import Conflict, InvalidRequest

WAIT_FOR_FIRST_SECONDS = 10.0
REPLAYED_HEADERS = ("Location",)


def _fingerprint(request: Request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    except Exception:  # noqa: BLE001 — unparsable bodies fail later in the view itself
        body = ""
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _validated_key(raw: str) -> str:
    key = raw.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidRequest(
            "Invalid Idempotency-Key header",
            details={"header": HEADER, "reason": "Must be 1-255 printable characters."},
        )
    return key


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request",
            details={"reason": "idempotency_key_reused", "header": HEADER},
        )
    deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
    current: IdempotencyRecord | None = record
    while current is not None and current.response_status is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the first request with this key is still running
        current = IdempotencyRecord.objects.filter(pk=record.pk).first()
    if current is None or current.response_status is None:
        raise in_progress()
    response = Response(current.response_body, status=current.response_status)
    for name, value in current.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Wraps a POST handler. Only successful responses are kept; failures free the key again."""

    @wraps(view_method)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = request.headers.get(HEADER)
        if raw is None:
            return view_method(view, request, *args, **kwargs)
        key = _validated_key(raw)
        fingerprint = _fingerprint(request)
        record, reserved = reserve(tenant=request.tenant, user=request.user, key=key, fingerprint=fingerprint)
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
