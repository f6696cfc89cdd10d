"""Build reads: lists, status and progress, estimated completion, logs."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from builds.models import Build, BuildLogLine, BuildStatus, Project
from tenants.models import Tenant

ESTIMATE_SAMPLE = 20


def builds_for(tenant: Tenant) -> QuerySet[Build]:
    return Build.objects.for_tenant(tenant)


def projects_for(tenant: Tenant) -> QuerySet[Project]:
    return Project.objects.for_tenant(tenant)


def estimated_completion(build: Build) -> datetime | None:
    """started_at + the median duration of the project's last 20 successful builds."""
    if build.started_at is None or build.status not in (BuildStatus.IN_PROGRESS, BuildStatus.QUEUED):
        return None
    recent = (
        Build.objects.filter(
            project_id=build.project_id,
            status=BuildStatus.SUCCESS,
            started_at__isnull=False,
            completed_at__isnull=False,
        )
        .order_by("-completed_at")
        .values_list("started_at", "completed_at")[:ESTIMATE_SAMPLE]
    )
    durations = [(done - start).total_seconds() for start, done in recent if start and done]
    if not durations:
        return None
    return build.started_at + timedelta(seconds=statistics.median(durations))


def build_progress(build: Build) -> dict[str, int] | None:
    if not build.total_steps:
        return None
    current = min(build.current_step or 0, build.total_steps)
    if build.status == BuildStatus.SUCCESS:
        current = build.total_steps
    return {
        "current_step": current,
        "total_steps": build.total_steps,
        "percentage": round(100 * current / build.total_steps),
    }


def build_status(build: Build) -> dict:
    return {
        "build_id": build.pk,
        "status": build.status,
        "progress": build_progress(build),
        "started_at": build.started_at,
        "estimated_completion": estimated_completion(build),
        "error": build.error_message,
    }


def log_lines(build: Build, *, offset: int = 0, limit: int | None = None) -> QuerySet[BuildLogLine]:
    lines = BuildLogLine.objects.filter(build_id=build.pk).order_by("seq")
    if limit is None:
        return lines[offset:]
    return lines[offset : offset + limit]


def log_line_total(build: Build) -> int:
    return BuildLogLine.objects.filter(build_id=build.pk).count()


def log_lines_after(build_id: Any, *, after_seq: int, limit: int = 1000) -> list[BuildLogLine]:
    return list(BuildLogLine.objects.filter(build_id=build_id, seq__gt=after_seq).order_by("seq")[:limit])
