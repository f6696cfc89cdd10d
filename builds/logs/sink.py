"""Collects a running build's log lines, masks secrets, stores them in batches, caps the size."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from builds.logs.messages import Entry
from builds.logs.store import append_lines, close_log, drop_range, mark_truncated

logger = logging.getLogger(__name__)

MASK = "****"
FLUSH_BATCH = 500


class LogSink:
    """Thread-safe; a background thread flushes every BUILD_LOG_FLUSH_SECONDS."""

    def __init__(
        self,
        build_id: Any,
        *,
        secrets: Sequence[str] = (),
        max_lines: int | None = None,
        max_bytes: int | None = None,
        flush_seconds: float | None = None,
    ):
        self.build_id = build_id
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self.max_lines = max_lines or settings.BUILD_LOG_MAX_LINES
        self.max_bytes = max_bytes or settings.BUILD_LOG_MAX_BYTES
        self.flush_seconds = flush_seconds if flush_seconds is not None else settings.BUILD_LOG_FLUSH_SECONDS
        self._buffer: list[Entry] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        # Cap bookkeeping: the head is kept whole, then a marker, then a rolling tail.
        self._head_lines = 0
        self._head_bytes = 0
        self._head_closed = False
        self._marker_seq: int | None = None
        self._tail: deque[tuple[int, int]] = deque()
        self._tail_bytes = 0
        self._dropped_up_to = 0
        self._thread = threading.Thread(target=self._run, name=f"logsink-{build_id}", daemon=True)
        self._thread.start()

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def emit(self, message: str, *, level: str = "INFO", metadata: dict[str, str] | None = None) -> None:
        entry: Entry = {
            "timestamp": timezone.now(),
            "level": level,
            "message": self.mask(message),
            "metadata": {k: self.mask(str(v)) for k, v in (metadata or {}).items()},
        }
        with self._lock:
            self._buffer.append(entry)
            if len(self._buffer) >= FLUSH_BATCH:
                self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                logger.exception("log flush failed for build %s", self.build_id)
            finally:
                close_old_connections()

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if batch:
                self._store(batch)

    def close(self, *, status: str | None = None) -> None:
        """Stores what is left; with `status`, then ends the log (the stream's end event)."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()
        if status is not None:
            close_log(self.build_id, status)

    # --- the size cap ----------------------------------------------------------------------
    def _store(self, batch: list[Entry]) -> None:
        """Stores the batch; once the log is over the cap, drops its middle, not its head or tail.

        Nothing is dropped (and no marker written) while the whole log fits. The first dropped
        line becomes the truncation marker, so the marker sits exactly where lines are missing.
        """
        stored = append_lines(self.build_id, batch)
        head_line_cap, head_byte_cap = self.max_lines // 2, self.max_bytes // 2
        for line in stored:
            size = len(line.message.encode())
            if (
                not self._head_closed
                and self._head_lines + 1 <= head_line_cap
                and self._head_bytes + size <= head_byte_cap
            ):
                self._head_lines += 1
                self._head_bytes += size
            else:
                self._head_closed = True
                self._tail.append((line.seq, size))
                self._tail_bytes += size
        marker = 1 if self._marker_seq is not None else 0

        def over(extra: int) -> bool:
            return (
                self._head_lines + len(self._tail) + extra > self.max_lines
                or self._head_bytes + self._tail_bytes > self.max_bytes
            )

        if not over(marker):
            return
        dropped: list[int] = []
        while self._tail and over(1):
            seq, size = self._tail.popleft()
            self._tail_bytes -= size
            dropped.append(seq)
        if not dropped:
            return
        if self._marker_seq is None:
            self._marker_seq = dropped[0]
            mark_truncated(
                self.build_id,
                seq=self._marker_seq,
                message=(
                    f"[log truncated: this build printed more than {self.max_lines} lines or "
                    f"{self.max_bytes} bytes; the first and the last lines are kept]"
                ),
            )
        drop_range(self.build_id, after_seq=max(self._marker_seq, self._dropped_up_to), up_to_seq=dropped[-1])
        self._dropped_up_to = dropped[-1]
