"""django-filter FilterSets whose errors are the guide's envelope: 400, naming the parameter."""

from __future__ import annotations

import re
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.request import Request

from imagefactory.core.errors import InvalidRequest
from imagefactory.core.serializers import CANONICAL_UUID


def one_of(choices: list[str]) -> dict[str, str]:
    """The error message of a choice parameter, as the API words it."""
    return {"invalid_choice": f"Must be one of: {', '.join(choices)}."}


class CanonicalUUIDFilter(django_filters.UUIDFilter):
    """A UUID in its canonical hyphenated form only (the schema's `format: uuid`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("error_messages", {"invalid": "Must be a valid UUID."})
        super().__init__(*args, **kwargs)


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet that refuses an invalid or empty parameter instead of ignoring it."""

    @classmethod
    def apply(cls, request: Request, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return cls.validated(request, queryset).qs

    @classmethod
    def validated(cls, request: Request, queryset: QuerySet[Any]) -> StrictFilterSet:
        """The bound, valid filterset (its .qs, and its form's cleaned_data); InvalidRequest otherwise."""
        for name, declared in cls.base_filters.items():
            raw = request.query_params.get(name)
            if raw == "":
                raise InvalidRequest(f"Invalid query parameter {name}", details={name: "Must not be empty."})
            if (
                isinstance(declared, CanonicalUUIDFilter)
                and raw is not None
                and re.fullmatch(CANONICAL_UUID, raw) is None
            ):
                raise InvalidRequest(f"Invalid query parameter {name}", details={name: "Must be a valid UUID."})
        filterset = cls(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            name, messages = next(iter(filterset.errors.items()))
            raise InvalidRequest(f"Invalid query parameter {name}", details={name: " ".join(messages)})
        return filterset
