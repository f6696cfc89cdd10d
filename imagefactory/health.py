"""Liveness and readiness probes (no auth, no tenant)."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse

from imagefactory.core.errors import envelope_response


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready"
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
    try:
        probe = f"readyz:{uuid.uuid4().hex}"
        cache.set(probe, "1", timeout=5)
        checks["cache"] = "ok" if cache.get(probe) == "1" else "unavailable: value not stored"
        cache.delete(probe)
    except Exception as exc:  # noqa: BLE001
        checks["cache"] = f"unavailable: {exc.__class__.__name__}"
    if any(value != "ok" for value in checks.values()):
        return envelope_response(503, "Service not ready", details=checks)
    return JsonResponse({"status": "ready", "checks": checks})
