"""Tenant access (the tenant, the member's role and permissions) kept in Redis between requests,
so that a request reads it in one round trip instead of a membership query with two joins.

Exact at the next request: every change to a membership, a role or a tenant replaces the one
access generation after it commits (tenants/signals.py), and an entry counts only while it carries
the current generation. An entry is stamped with the generation read *before* the database was, so
an entry built from rows that a concurrent change then replaced carries an old generation already.
The user row (active, token generation, superuser) is not cached: authentication reads it anyway.

The keys have no per-deployment prefix on purpose: every process that can change access (servers,
workers, the admin, a shell or a test process with its own cache prefix) must reach the same
generation. Embedded mode (a per-process memory cache) caches nothing.
"""

from __future__ import annotations

import logging
import pickle
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

from tenants.models import Tenant

logger = logging.getLogger(__name__)

GENERATION_KEY = "imagefactory:tenant-access:generation"
ENTRY_SECONDS = 60  # a bound on staleness should a generation change ever be lost with Redis down
TENANT_FIELDS = [field.attname for field in Tenant._meta.concrete_fields]

# (tenant, role name or None when the user is no member, permissions or None)
Access = tuple[Tenant, str | None, frozenset[str] | None]


def _redis() -> Any:
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(GENERATION_KEY, write=True)


def _entry_key(user_id: Any, tenant_id: Any) -> str:
    return f"imagefactory:tenant-access:{user_id}:{tenant_id}"


def cached_access(user_id: Any, tenant_id: Any, load: Callable[[], Access | None]) -> Access | None:
    """The access of `user_id` to `tenant_id`: from the cache when current, else `load()` (None
    for no access, which is not kept)."""
    client = _redis()
    if client is None:
        return load()
    key = _entry_key(user_id, tenant_id)
    try:
        raw_entry, generation = client.mget([key, GENERATION_KEY])
        if raw_entry is not None:
            entry = pickle.loads(raw_entry)
            if generation is not None and entry["generation"] == generation:
                tenant = Tenant.from_db("default", TENANT_FIELDS, entry["tenant"])
                return tenant, entry["role"], entry["permissions"]
        if generation is None:
            client.set(GENERATION_KEY, uuid.uuid4().hex, nx=True)
            generation = client.get(GENERATION_KEY)
    except (RedisError, pickle.UnpicklingError, KeyError, TypeError):  # a shortcut: the database answers
        logger.warning("tenant access cache unavailable", exc_info=True)
        return load()
    access = load()
    if access is not None and generation is not None:
        tenant, role, permissions = access
        entry = {
            "generation": generation,
            "tenant": [getattr(tenant, name) for name in TENANT_FIELDS],
            "role": role,
            "permissions": permissions,
        }
        try:
            client.set(key, pickle.dumps(entry), ex=ENTRY_SECONDS)
        except RedisError:
            logger.warning("tenant access cache unavailable", exc_info=True)
    return access


def access_changed() -> None:
    """Every cached access is stale from now on (call after the change commits)."""
    client = _redis()
    if client is None:
        return
    try:
        client.set(GENERATION_KEY, uuid.uuid4().hex)
    except RedisError:
        logger.error("could not invalidate the tenant access cache; entries expire within %ss", ENTRY_SECONDS)
