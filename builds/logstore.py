"""Storing build log lines: sequence numbers allocated in the database, batched inserts."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F

from builds import events
from builds.models import Build, BuildLogLine


def append_log_lines(build_id, entries: list[dict[str, Any]]) -> list[BuildLogLine]:
    """Stores entries as the build's next lines (one UPDATE + one INSERT), then publishes them.

    Publishing happens after commit, so any line a stream client sees live is already
    readable from the database: replay-then-live has no gap.
    """
    if not entries:
        return []
    with transaction.atomic():
        Build.objects.filter(pk=build_id).update(log_line_count=F("log_line_count") + len(entries))
        last = Build.objects.filter(pk=build_id).values_list("log_line_count", flat=True).first()
        if last is None:  # the build was deleted meanwhile
            return []
        first = last - len(entries) + 1
        lines = BuildLogLine.objects.bulk_create(
            BuildLogLine(build_id=build_id, seq=first + i, timestamp=e["timestamp"], level=e["level"],
                         message=e["message"], metadata=e.get("metadata") or {})
            for i, e in enumerate(entries)
        )
        transaction.on_commit(lambda: events.publish_lines(build_id, lines))
    return lines


def drop_log_range(build_id, *, after_seq: int, up_to_seq: int) -> int:
    """Deletes stored lines with after_seq < seq <= up_to_seq (the middle of an over-long log)."""
    if up_to_seq <= after_seq:
        return 0
    deleted, _ = BuildLogLine.objects.filter(build_id=build_id, seq__gt=after_seq, seq__lte=up_to_seq).delete()
    return deleted


def mark_truncated(build_id, *, seq: int, message: str) -> None:
    """Turns the stored line `seq` into the truncation marker of an over-long log."""
    BuildLogLine.objects.filter(build_id=build_id, seq=seq).update(
        level="WARN", message=message,
        metadata={"step": "system", "step_name": "system", "container": "builder", "event": "truncated"},
    )
