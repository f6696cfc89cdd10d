"""Fixed-window request counting in the shared cache, and the API rate-limit middleware."""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse

from imagefactory.core.errors import envelope_response
from imagefactory.core.tokens import request_user_id

logger = logging.getLogger(__name__)


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


def _window(scope: str, window_seconds: int) -> tuple[str, int]:
    """The cache key of `scope`'s current window, and when that window started."""
    now = int(time.time())
    window_start = now - now % window_seconds
    return f"ratelimit:{scope}:{window_start}", window_start


def hit(scope: str, *, limit: int, window_seconds: int) -> WindowCount:
    """Counts one request against `scope` in the current window; shared by all processes."""
    key, window_start = _window(scope, window_seconds)
    # add() is a no-op when the key exists; incr() is atomic in Redis and under the locmem lock.
    cache.add(key, 0, timeout=window_seconds + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window_seconds + 5)
        count = 1
    return WindowCount(limit=limit, count=count, reset_at=window_start + window_seconds)


def hit_all(scopes: list[tuple[str, int]], *, window_seconds: int) -> list[WindowCount]:
    """Counts one request against each (scope, limit); with Redis, in one round trip (a pipeline
    of SET NX + INCR per scope) instead of two per scope."""
    backend = caches["default"]  # the backend itself (`cache` is a proxy to it)
    if not isinstance(backend, RedisCache) or len(backend._cache._servers) != 1:  # one server, one pipeline
        return [hit(scope, limit=limit, window_seconds=window_seconds) for scope, limit in scopes]
    windows = [(_window(scope, window_seconds), limit) for scope, limit in scopes]
    keys = [backend.make_and_validate_key(key) for (key, _), _ in windows]
    pipeline = backend._cache.get_client(keys[0], write=True).pipeline(transaction=False)
    for key in keys:
        # Stored as a plain integer, as the cache itself stores ints: peek() and reset() read it.
        pipeline.set(key, 0, ex=window_seconds + 5, nx=True)
        pipeline.incr(key)
    counts = pipeline.execute()[1::2]
    return [
        WindowCount(limit=limit, count=int(count), reset_at=window_start + window_seconds)
        for ((_, window_start), limit), count in zip(windows, counts, strict=True)
    ]


def peek(scope: str, *, limit: int, window_seconds: int) -> WindowCount:
    """`scope`'s count in the current window, without counting anything."""
    key, window_start = _window(scope, window_seconds)
    return WindowCount(limit=limit, count=int(cache.get(key) or 0), reset_at=window_start + window_seconds)


def reset(scope: str, *, window_seconds: int) -> None:
    cache.delete(_window(scope, window_seconds)[0])


def rate_limit_headers(window: WindowCount) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(window.limit),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(window.reset_at),
    }


def _request_scopes(request: HttpRequest) -> list[tuple[str, int]]:
    user_id = request_user_id(request)
    if user_id is None:
        return [(f"addr:{client_address(request)}", settings.RATE_LIMIT_REQUESTS)]
    return user_scopes(user_id, request.headers.get("X-Tenant-ID", ""))


def user_scopes(user_id: int, tenant_header: str) -> list[tuple[str, int]]:
    """(bucket, limit) pairs a token holder's request counts against (HTTP, and stream handshakes).

    Per user and tenant, and per user across all tenants: a ceiling, so that spraying
    X-Tenant-ID values gains nothing. Anyone else counts per client address.
    """
    tenant = _tenant_key(tenant_header)
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
    """The address of the client, as far as the trusted proxies in front of us say.

    X-Forwarded-For is believed only as far as the operator trusts it: TRUSTED_PROXY_NETWORKS
    (the nearest address outside those networks is the client) or TRUSTED_PROXY_COUNT (that
    many proxies each appended the address they saw). Anything further left is the client's own
    claim, and a client can send any X-Forwarded-For it likes.
    """
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    forwarded = [item.strip() for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if item.strip()]
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXY_NETWORKS))
    if networks:
        chain = [*forwarded, remote]
        while len(chain) > 1 and _within(chain[-1], networks):
            chain.pop()
        return _valid_address(chain[-1]) or remote
    if settings.TRUSTED_PROXY_COUNT > 0 and forwarded:
        candidate = forwarded[max(0, len(forwarded) - settings.TRUSTED_PROXY_COUNT)]
        return _valid_address(candidate) or remote
    return remote


def _valid_address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _within(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


@lru_cache(maxsize=4)
def _trusted_networks(values: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


class RateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/v1/"):
            return self.get_response(request)
        try:
            windows = hit_all(_request_scopes(request), window_seconds=settings.RATE_LIMIT_WINDOW_SECONDS)
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
