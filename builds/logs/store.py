"""Storing a build's log: seq numbers allocated in the database, batched inserts, and the end.

Lines appended here (the janitor, a cancel) are published after they commit. A running build's
sink (builds/logs/sink.py) reserves its seqs here, publishes its lines first and stores them
right after; a stream client that sees a line live before the store has it reads it back later
(builds/stream/cursor.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from builds.logs import publish
from builds.logs.messages import Entry
from builds.models import Build, BuildLogLine, LogLevel
from imagefactory.core import metrics

TRUNCATION_METADATA = {"step": "system", "step_name": "system", "container": "builder", "event": "truncated"}


def append_lines(build_id: Any, entries: Sequence[Entry]) -> list[BuildLogLine]:
    """Stores entries as the build's next lines (one UPDATE + one INSERT), then publishes them."""
    if not entries:
        return []
    with transaction.atomic():
        Build.objects.filter(pk=build_id).update(log_line_count=F("log_line_count") + len(entries))
        last = Build.objects.filter(pk=build_id).values_list("log_line_count", flat=True).first()
        if last is None:  # the build was deleted meanwhile
            return []
        first = last - len(entries) + 1
        lines = BuildLogLine.objects.bulk_create(
            BuildLogLine(
                build_id=build_id,
                seq=first + i,
                timestamp=e["timestamp"],
                level=e["level"],
                message=e["message"],
                metadata=e.get("metadata") or {},
            )
            for i, e in enumerate(entries)
        )
        transaction.on_commit(lambda: publish.publish_lines(build_id, lines))
    metrics.BUILD_LOG_LINES.inc(len(lines))
    return lines


def write_lines(build_id: Any, lines: Sequence[tuple[int, Entry]]) -> None:
    """Stores lines the running build's sink numbered itself (and already published).

    log_line_count follows the highest seq, so that a line appended by anyone else later (the
    janitor, say) gets a seq after them.
    """
    if not lines:
        return
    with transaction.atomic():
        BuildLogLine.objects.bulk_create(
            BuildLogLine(
                build_id=build_id,
                seq=seq,
                timestamp=e["timestamp"],
                level=e["level"],
                message=e["message"],
                metadata=e.get("metadata") or {},
            )
            for seq, e in lines
        )
        last = max(seq for seq, _ in lines)
        Build.objects.filter(pk=build_id).update(log_line_count=Greatest(F("log_line_count"), last))
    metrics.BUILD_LOG_LINES.inc(len(lines))


def reserve_seqs(build_id: Any, count: int) -> tuple[int, int]:
    """Reserves the build's next `count` seqs for a sink, committed before it publishes any of them:
    (first, last). log_line_count is the highest seq handed out (stored or not), so no other writer
    (the janitor, a cancel, the sink of a re-run after a worker died) ever numbers a line the same."""
    with transaction.atomic():
        Build.objects.filter(pk=build_id).update(log_line_count=F("log_line_count") + count)
        last = Build.objects.filter(pk=build_id).values_list("log_line_count", flat=True).first() or count
    return last - count + 1, last


def give_back_seqs(build_id: Any, *, reserved_up_to: int, used_up_to: int) -> None:
    """A closing sink returns the unused end of its last reservation, unless someone reserved after it."""
    if used_up_to < reserved_up_to:
        Build.objects.filter(pk=build_id, log_line_count=reserved_up_to).update(log_line_count=used_up_to)


def close_log(build_id: Any, status: str, last_entries: Sequence[Entry] = ()) -> None:
    """Stores the build's last lines, then announces its end once they are committed.

    The one place that ends a log: the worker when it finishes a build, the API when it cancels a
    build no worker holds, and the janitor when it reaps a build whose worker is gone.
    """
    append_lines(build_id, last_entries)
    transaction.on_commit(lambda: publish.publish_finished(build_id, status))


def drop_range(build_id: Any, *, after_seq: int, up_to_seq: int) -> int:
    """Deletes stored lines with after_seq < seq <= up_to_seq (the middle of an over-long log)."""
    if up_to_seq <= after_seq:
        return 0
    deleted, _ = BuildLogLine.objects.filter(build_id=build_id, seq__gt=after_seq, seq__lte=up_to_seq).delete()
    return deleted


def mark_truncated(build_id: Any, *, seq: int, message: str) -> None:
    """Turns the stored line `seq` into the truncation marker of an over-long log."""
    BuildLogLine.objects.filter(build_id=build_id, seq=seq).update(
        level=LogLevel.WARN, message=message, metadata=TRUNCATION_METADATA
    )
