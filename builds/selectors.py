"""Build reads: lists, status and progress, estimated completion, logs."""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet, Sum

from builds.models import Build, BuildCount, BuildLogLine, BuildStatus, Project
from imagefactory.core.timestamps import iso_z
from tenants.models import Tenant

ESTIMATE_SAMPLE = 20


def builds_for(tenant: Tenant) -> QuerySet[Build]:
    return Build.objects.for_tenant(tenant)


def build_total(tenant: Tenant, *, project_id: Any = None, status: str | None = None) -> int:
    """How many builds the tenant has (in one project, in one status): exact, from the counts the
    database keeps in the same transactions as the builds (builds/models/counts.py), so no build
    row is read. Serves every filter combination GET /builds offers."""
    counts = BuildCount.objects.filter(tenant_id=tenant.pk)
    if project_id is not None:
        counts = counts.filter(project_id=project_id)
    if status:
        counts = counts.filter(status=status)
    return counts.aggregate(total=Sum("count"))["total"] or 0


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


LOG_TEXT_CHUNK_LINES = 2000


def _log_text_chunk(build_id: Any, after_seq: int) -> tuple[str, int | None]:
    """The text of the next LOG_TEXT_CHUNK_LINES lines, and the seq to continue after (None: done)."""
    lines = log_lines_after(build_id, after_seq=after_seq, limit=LOG_TEXT_CHUNK_LINES)
    text = "".join(f"{iso_z(line.timestamp)} {line.level:<5} {line.message}\n" for line in lines)
    return text, (lines[-1].seq if len(lines) == LOG_TEXT_CHUNK_LINES else None)


def _log_text_sync(build_id: Any) -> Iterator[str]:
    after: int | None = 0
    while after is not None:
        text, after = _log_text_chunk(build_id, after)
        if text:
            yield text


async def _log_text_async(build_id: Any) -> AsyncIterator[str]:
    fetch = sync_to_async(_log_text_chunk)
    after: int | None = 0
    while after is not None:
        text, after = await fetch(build_id, after)
        if text:
            yield text


def log_text(build_id: Any, *, under_asgi: bool) -> Iterator[str] | AsyncIterator[str]:
    """The whole stored log as text, chunk by chunk (the API's ?format=text and the admin's download).

    Under ASGI (daphne) an async iterator: a sync one would be read into memory whole before the
    first byte goes out.
    """
    return _log_text_async(build_id) if under_asgi else _log_text_sync(build_id)
