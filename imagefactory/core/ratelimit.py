"""Fixed-window request counting in the shared cache, and the API rate-limit middleware."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from imagefactory.core.errors import envelope_response
from imagefactory.core.tokens import request_user_id

logger = logging.getLogger(__name__)

EXEMPT_PREFIXES = ("/api/v1/schema", "/api/v1/docs", "/api/v1/redoc")


@dataclass(frozen=True)
class WindowCount:
    limit: int
    count: int
    reset_at: int  # unix seconds when the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))


def hit(scope: str, *, limit: int, window_seconds: int) -> WindowCount:
    """Counts one request against `scope` in the current window; shared by all processes."""
    now = int(time.time())
    window_start = now - now % window_seconds
    key = f"ratelimit:{scope}:{window_start}"
    # add() is a no-op when the key exists; incr() is atomic in Redis and under the locmem lock.
    cache.add(key, 0, timeout=window_seconds + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window_seconds + 5)
        count = 1
    return WindowCount(limit=limit, count=count, reset_at=window_start + window_seconds)


def rate_limit_headers(window: WindowCount) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(window.limit),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(window.reset_at),
    }


def _request_scopes(request: HttpRequest) -> list[tuple[str, int]]:
    """(bucket, limit) pairs this request counts against.

    A token holder counts per user and tenant, and per user across all tenants (a ceiling, so
    that spraying X-Tenant-ID values gains nothing); anyone else per client address.
    """
    user_id = request_user_id(request)
    if user_id is None:
        return [(f"addr:{client_address(request)}", settings.RATE_LIMIT_REQUESTS)]
    tenant = _tenant_key(request.headers.get("X-Tenant-ID", ""))
    return [
        (f"user:{user_id}:tenant:{tenant}", settings.RATE_LIMIT_REQUESTS),
        (f"user:{user_id}:all", settings.RATE_LIMIT_USER_REQUESTS),
    ]


def _tenant_key(header: str) -> str:
    """The canonical tenant UUID; every malformed value shares one bucket, so varying it gains nothing."""
    try:
        return str(uuid.UUID(header.strip()))
    except ValueError:
        return "-"


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


class RateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/v1/") or request.path.startswith(EXEMPT_PREFIXES):
            return self.get_response(request)
        try:
            windows = [
                hit(scope, limit=limit, window_seconds=settings.RATE_LIMIT_WINDOW_SECONDS)
                for scope, limit in _request_scopes(request)
            ]
        except Exception:  # an unreachable cache must not take the API down with it
            logger.warning("rate limiter unavailable; request not counted", exc_info=True)
            return self.get_response(request)
        # The headers describe the bucket the caller is closest to exhausting.
        window = max(windows, key=lambda w: (w.exceeded, -w.remaining))
        if window.exceeded:
            response = envelope_response(
                429,
                "Rate limit exceeded; retry after the time in Retry-After",
                details={"limit": window.limit, "reset": window.reset_at},
                headers={"Retry-After": str(window.retry_after)},
            )
        else:
            response = self.get_response(request)
        for name, value in rate_limit_headers(window).items():
            response[name] = value
        return response
