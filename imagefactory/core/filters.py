"""django-filter FilterSets whose errors are the guide's envelope: 400, naming the parameter."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.request import Request

from imagefactory.core.errors import InvalidRequest


def one_of(choices: list[str]) -> dict[str, str]:
    """The error message of a choice parameter, as the API words it."""
    return {"invalid_choice": f"Must be one of: {', '.join(choices)}."}


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet that refuses an invalid parameter instead of ignoring it."""

    @classmethod
    def apply(cls, request: Request, queryset: QuerySet[Any]) -> QuerySet[Any]:
        filterset = cls(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            name, messages = next(iter(filterset.errors.items()))
            raise InvalidRequest(f"Invalid query parameter {name}", details={name: " ".join(messages)})
        return filterset.qs
