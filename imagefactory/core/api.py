"""Helpers shared by the API views: query-parameter parsing, id lookup, pagination."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Model, QuerySet, Subquery
from rest_framework.request import Request

from imagefactory.core.errors import InvalidRequest, NotFound
from imagefactory.core.serializers import CANONICAL_UUID

EMPTY = "Must not be empty."


def parse_uuid(value: str, *, name: str) -> uuid.UUID:
    """A UUID in its canonical hyphenated form, as the schema's `format: uuid` says."""
    if re.fullmatch(CANONICAL_UUID, str(value)) is None:
        raise InvalidRequest(f"{name} must be a UUID", details={name: "Must be a valid UUID."})
    return uuid.UUID(str(value))


def get_or_404(queryset: QuerySet, raw_id: str, *, name: str = "id", label: str = "Resource") -> Model:
    """Looks up by UUID inside an already tenant-scoped queryset; malformed ids are a 400."""
    obj = queryset.filter(pk=parse_uuid(raw_id, name=name)).first()
    if obj is None:
        raise NotFound(f"{label} not found")
    return obj


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw == "":
        raise InvalidRequest(f"Invalid query parameter {name}", details={name: EMPTY})
    # Digits only: int() would also take " 5", "+5", "5_0" and other scripts' digits.
    value = int(raw) if re.fullmatch(r"-?[0-9]{1,4000}", raw) else None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidRequest(f"Invalid query parameter {name}", details={name: f"Must be an integer {bound}."})
    return value


def query_choice(request: Request, name: str, choices: Iterable[str], *, default: str | None) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw == "":
        raise InvalidRequest(f"Invalid query parameter {name}", details={name: EMPTY})
    choices = list(choices)
    if raw not in choices:
        raise InvalidRequest(
            f"Invalid query parameter {name}", details={name: f"Must be one of: {', '.join(choices)}."}
        )
    return raw


@dataclass(frozen=True)
class Page:
    items: list
    total_count: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total_count

    def envelope(self, key: str, rendered: list) -> dict:
        return {
            key: rendered,
            "total_count": self.total_count,
            "page": self.page,
            "limit": self.limit,
            "has_more": self.has_more,
        }


# From this offset on, a page is read as "the ids of the page, then their rows": the offset is
# walked in an index alone (an index-only scan on PostgreSQL) instead of fetching every skipped row.
DEFERRED_JOIN_OFFSET = 200


def paginate(
    queryset: QuerySet,
    request: Request,
    *,
    default_limit: int = 20,
    max_limit: int = 100,
    total: Callable[[], int] | None = None,
) -> Page:
    """One page of an ordered queryset. `total` gives the exact total_count when the caller knows
    it without counting rows (builds: the counts the database keeps); otherwise COUNT(*)."""
    page = query_int(request, "page", default=1, minimum=1, maximum=10**9)
    limit = query_int(request, "limit", default=default_limit, minimum=1, maximum=max_limit)
    total_count = total() if total is not None else queryset.count()
    start = (page - 1) * limit
    if start >= total_count:
        return Page(items=[], total_count=total_count, page=page, limit=limit)
    window = queryset
    if start >= DEFERRED_JOIN_OFFSET:
        window = queryset.filter(pk__in=Subquery(queryset.values("pk")[start : start + limit]))
        start = 0
    return Page(items=list(window[start : start + limit]), total_count=total_count, page=page, limit=limit)
