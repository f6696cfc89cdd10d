"""Who may keep a log stream open: the HTTP rule table at the handshake and again over time, the
per-user cap of open streams, and handshakes counted against the user's rate limit.

The consumer (builds/stream/consumer.py) calls these from its database thread.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache

from accounts.authentication import authenticate_access_token
from builds import selectors
from builds.models import Build
from imagefactory.core.api import parse_uuid
from imagefactory.core.errors import ApiError, NotFound, RateLimited
from imagefactory.core.ratelimit import hit, user_scopes
from tenants.access import resolve_tenant_access
from tenants.roles import BUILD_READ

logger = logging.getLogger(__name__)


def authorize(raw_token: str | None, tenant_header: str | None, build_id: str) -> tuple[int, Build]:
    """The HTTP rule table, by the same functions, then the build inside the tenant: (user id, build)."""
    user = authenticate_access_token(raw_token)
    access = resolve_tenant_access(user=user, tenant_header=tenant_header, write=False, permission=BUILD_READ)
    build = selectors.builds_for(access.tenant).filter(pk=parse_uuid(build_id, name="id")).first()
    if build is None:
        raise NotFound("Build not found")
    return user.pk, build


def _open_streams_key(user_id: int) -> str:
    return f"stream:open:user:{user_id}"


def keep_place(user_id: int) -> None:
    """A stream that still holds its place says so (its count then outlives no crash by long)."""
    cache.touch(_open_streams_key(user_id), _OPEN_STREAMS_TTL_SECONDS)


# A counter a crashed server never decremented expires this long after the user's last stream check.
_OPEN_STREAMS_TTL_SECONDS = 3600


def admit(user_id: int, tenant_header: str | None) -> bool:
    """Counts the handshake against the user's rate limit, then takes one of their stream places.

    True when a place was taken (give it back with release). Like the HTTP limiter, an
    unreachable cache admits the stream uncounted rather than taking streaming down with it.
    """
    try:
        windows = [
            hit(scope, limit=limit, window_seconds=settings.RATE_LIMIT_WINDOW_SECONDS)
            for scope, limit in user_scopes(user_id, tenant_header or "")
        ]
        key = _open_streams_key(user_id)
        cache.add(key, 0, timeout=_OPEN_STREAMS_TTL_SECONDS)
        exceeded = [window for window in windows if window.exceeded]
        if exceeded:
            raise RateLimited(
                "Rate limit exceeded; retry after the time in Retry-After",
                retry_after=max(window.retry_after for window in exceeded),
            )
        if cache.incr(key) > settings.STREAM_MAX_CONNECTIONS_PER_USER:
            cache.decr(key)
            raise RateLimited(
                f"Too many open log streams; at most {settings.STREAM_MAX_CONNECTIONS_PER_USER} per user",
                retry_after=int(settings.STREAM_ACCESS_CHECK_SECONDS),
                details={"limit": settings.STREAM_MAX_CONNECTIONS_PER_USER},
            )
    except ApiError:
        raise
    except Exception:
        logger.warning("stream limits unavailable; stream of user %s not counted", user_id, exc_info=True)
        return False
    return True


def release(user_id: int) -> None:
    try:
        cache.decr(_open_streams_key(user_id))
    except ValueError:  # expired meanwhile: nothing left to give back
        pass
    except Exception:  # the cache is away: the counter expires on its own (keep_place stops touching it)
        logger.warning("could not give back the stream place of user %s", user_id, exc_info=True)
