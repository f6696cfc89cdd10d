"""The query parameters of GET /builds and GET /projects."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from builds.models import Build, BuildStatus, Project
from imagefactory.core.filters import CanonicalUUIDFilter, StrictFilterSet, one_of

SORT_FIELDS = ["created_at", "updated_at", "build_number"]
SORT_ORDERS = ["asc", "desc"]


class BuildFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=BuildStatus.choices, error_messages=one_of(BuildStatus.values))
    project_id = CanonicalUUIDFilter()
    sort_by = django_filters.ChoiceFilter(
        choices=[(f, f) for f in SORT_FIELDS], method="keep", error_messages=one_of(SORT_FIELDS)
    )
    sort_order = django_filters.ChoiceFilter(
        choices=[(o, o) for o in SORT_ORDERS], method="keep", error_messages=one_of(SORT_ORDERS)
    )

    class Meta:
        model = Build
        fields = ["status", "project_id"]

    def keep(self, queryset: QuerySet[Build], name: str, value: Any) -> QuerySet[Build]:
        return queryset  # applied together in filter_queryset

    def filter_queryset(self, queryset: QuerySet[Build]) -> QuerySet[Build]:
        queryset = super().filter_queryset(queryset)
        sort_by = self.form.cleaned_data.get("sort_by") or "created_at"
        prefix = "" if self.form.cleaned_data.get("sort_order") == "asc" else "-"
        # id breaks ties so that pages never overlap or skip when timestamps are equal.
        return queryset.order_by(f"{prefix}{sort_by}", f"{prefix}id")


class ProjectFilter(StrictFilterSet):
    # Taken as sent (no strip): the schema's minLength and pattern say the same.
    name = django_filters.CharFilter(lookup_expr="iexact", max_length=100, strip=False)

    class Meta:
        model = Project
        fields = ["name"]
