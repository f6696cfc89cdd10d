"""A running build's log: numbered, masked, published at once, stored in batches, capped in size.

The sink is the build's only writer while it runs, so it numbers the lines itself, from blocks of
SEQ_BLOCK seqs it reserves in the database (builds.logs.store.reserve_seqs) before it publishes any
line of a block: a sink run again after its worker died, or the janitor's last line, never reuses
a seq an earlier sink published. Each line is published to the stream clients right away (a
publisher thread, so a slow channel layer never delays reading the build's output) and stored in
batches by a flusher thread.

Bounds, so that no build can take the worker's memory or the database with it:
- A tool's line is at most BUILD_LOG_MAX_LINE_BYTES (the executor drops the rest while reading).
- At most BUILD_LOG_MAX_LINES lines and BUILD_LOG_MAX_BYTES bytes are stored: the head whole, then a
  marker, then the tail. Past the cap, lines are still published but only the newest (the tail)
  are kept, in memory, and stored when the build ends; the middle is never written at all.
- The queues to the publisher and the flusher hold at most `buffer_lines` lines: a build that
  prints faster waits (`emit` blocks, so the executor stops reading its output and the build
  process blocks on its next write).

A worker that dies loses at most what it had not stored yet: lines already published but not
stored are gone from the log (stream clients that saw them live keep them; the cursor skips the gap
for everyone else). The bound: the lines queued for the flusher plus the batch it is writing, at
most 2 x `buffer_lines`, in practice the last BUILD_LOG_FLUSH_SECONDS of output.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from builds.logs import publish, store
from builds.logs.messages import Entry, numbered_message
from builds.models import LogLevel

logger = logging.getLogger(__name__)

MASK = "****"
FLUSH_BATCH = 500
BUFFER_LINES = 5000
SEQ_BLOCK = 1000  # seqs reserved per database round trip
SECRET_PREFIX_MIN = 8  # a line cut in the middle of a secret must not show its first characters either
Line = tuple[int, Entry]


class LogSink:
    """Thread-safe. `close()` stores what is left and, with a status, ends the log."""

    def __init__(
        self,
        build_id: Any,
        *,
        secrets: Sequence[str] = (),
        max_lines: int | None = None,
        max_bytes: int | None = None,
        flush_seconds: float | None = None,
        buffer_lines: int = BUFFER_LINES,
    ):
        self.build_id = build_id
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self.max_lines = max_lines or settings.BUILD_LOG_MAX_LINES
        self.max_bytes = max_bytes or settings.BUILD_LOG_MAX_BYTES
        self.flush_seconds = flush_seconds if flush_seconds is not None else settings.BUILD_LOG_FLUSH_SECONDS
        self.buffer_lines = buffer_lines
        self._next_seq, self._reserved_up_to = store.reserve_seqs(build_id, SEQ_BLOCK)
        self._lock = threading.Condition()
        self._flush_lock = threading.Lock()
        self._closing = False
        self._closed = False
        self._to_publish: list[Line] = []
        self._to_store: list[Line] = []
        # The cap: the head is stored whole; the lines after it are kept here too until the cap is
        # reached (then they become the tail, dropped from the front and stored at the end).
        self._stored_lines = self._stored_bytes = 0
        self._head_lines = self._head_bytes = 0
        self._head_full = False
        self._tail: deque[tuple[int, Entry, int]] = deque()
        self._tail_bytes = 0
        self._marker_seq: int | None = None
        self._tail_stored_seq = 0  # the tail of a capped log is stored when the build ends, up to here
        self._publisher = threading.Thread(target=self._publish_forever, name=f"logpublish-{build_id}", daemon=True)
        self._flusher = threading.Thread(target=self._flush_forever, name=f"logsink-{build_id}", daemon=True)
        self._publisher.start()
        self._flusher.start()

    # --- in ----------------------------------------------------------------------------------
    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def emit(
        self, message: str, *, level: str = LogLevel.INFO, metadata: dict[str, str] | None = None, cut_bytes: int = 0
    ) -> None:
        """A line of the build's log; `cut_bytes`: how much of the tool's line was dropped."""
        text = self.mask(message)
        if cut_bytes:
            text = f"{self._mask_cut_secret(text)} … [line cut: {cut_bytes} more bytes]"
        entry: Entry = {
            "timestamp": timezone.now(),
            "level": level,
            "message": text,
            "metadata": {k: self.mask(str(v)) for k, v in (metadata or {}).items()},
        }
        with self._lock:
            while not self._closing and (
                len(self._to_publish) >= self.buffer_lines or len(self._to_store) >= self.buffer_lines
            ):
                self._lock.wait(1.0)  # back-pressure: the build waits for the publisher and the flusher
            seq = self._take_seq()
            self._to_publish.append((seq, entry))
            capped_now = self._keep(seq, entry)
            self._lock.notify_all()
        if capped_now:
            self._drop_the_middle()

    def _take_seq(self) -> int:
        """The next line's seq (under _lock), from the reserved block or a new one."""
        if self._next_seq > self._reserved_up_to:
            try:
                self._next_seq, self._reserved_up_to = store.reserve_seqs(self.build_id, SEQ_BLOCK)
            except Exception:
                # The database is away: go on numbering (a line is better than none); only a re-run
                # of this build's sink during this very outage could reuse these seqs.
                logger.exception("could not reserve log seqs for build %s", self.build_id)
                self._reserved_up_to = self._next_seq + SEQ_BLOCK - 1
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        return seq

    def _mask_cut_secret(self, text: str) -> str:
        """A line cut inside a secret ends with the secret's first characters: mask those too."""
        for secret in self.secrets:
            for length in range(min(len(secret) - 1, len(text)), SECRET_PREFIX_MIN - 1, -1):
                if text.endswith(secret[:length]):
                    return text[:-length] + MASK
        return text

    # --- the cap (under _lock) -----------------------------------------------------------------
    def _keep(self, seq: int, entry: Entry) -> bool:
        """Queues the line for storing, or keeps it in the tail; True when this line hits the cap."""
        size = len(entry["message"].encode())
        capped_now = False
        if self._marker_seq is None:
            if self._stored_lines + 1 <= self.max_lines and self._stored_bytes + size <= self.max_bytes:
                self._to_store.append((seq, entry))
                self._stored_lines += 1
                self._stored_bytes += size
                if (
                    not self._head_full
                    and self._head_lines + 1 <= self.max_lines // 2
                    and self._head_bytes + size <= self.max_bytes // 2
                ):
                    self._head_lines += 1
                    self._head_bytes += size
                    return False
                self._head_full = True
                self._tail.append((seq, entry, size))
                self._tail_bytes += size
                return False
            # The first line over the cap: the first line after the head is where lines go missing.
            self._marker_seq = self._tail[0][0] if self._tail else seq
            capped_now = True
        self._tail.append((seq, entry, size))
        self._tail_bytes += size
        while self._tail and (
            len(self._tail) > self.max_lines - self._head_lines - 1
            or self._tail_bytes > self.max_bytes - self._head_bytes
        ):
            _, _, dropped = self._tail.popleft()
            self._tail_bytes -= dropped
        return capped_now

    def _drop_the_middle(self) -> None:
        """Once, at the cap: the stored lines after the head go; the marker takes the first one's place."""
        with self._flush_lock:
            self._store_pending()
            assert self._marker_seq is not None
            store.drop_range(self.build_id, after_seq=self._marker_seq - 1, up_to_seq=self._next_seq)
            marker: Entry = {
                "timestamp": timezone.now(),
                "level": LogLevel.WARN,
                "message": (
                    f"[log truncated: this build printed more than {self.max_lines} lines or {self.max_bytes} bytes; "
                    "the first and the last lines are kept]"
                ),
                "metadata": dict(store.TRUNCATION_METADATA),
            }
            store.write_lines(self.build_id, [(self._marker_seq, marker)])

    # --- out ---------------------------------------------------------------------------------
    def _publish_forever(self) -> None:
        while True:
            with self._lock:
                while not self._to_publish and not self._closing:
                    self._lock.wait()
                batch, self._to_publish = self._to_publish, []
                self._lock.notify_all()
            if not batch:
                return
            publish.publish_messages(self.build_id, [numbered_message(self.build_id, seq, e) for seq, e in batch])

    def _flush_forever(self) -> None:
        while True:
            with self._lock:
                self._wait_for_a_batch()
                if self._closing:
                    return
            try:
                self.flush()
            except Exception:
                logger.exception("log flush failed for build %s", self.build_id)
            finally:
                close_old_connections()

    def _wait_for_a_batch(self) -> None:
        """Until FLUSH_BATCH lines wait, or the oldest has waited flush_seconds (under _lock). Every
        emit wakes this thread: storing on each wake would cost a transaction per line or two."""
        deadline: float | None = None
        while not self._closing and len(self._to_store) < FLUSH_BATCH:
            if not self._to_store:
                deadline = None
                self._lock.wait()
                continue
            now = time.monotonic()
            deadline = deadline if deadline is not None else now + self.flush_seconds
            if now >= deadline:
                return
            self._lock.wait(deadline - now)

    def flush(self, *, tail: bool = False) -> None:
        """Stores the queued lines now (the flusher does it every BUILD_LOG_FLUSH_SECONDS); with
        `tail`, also the tail of a capped log so far (when the build is about to end)."""
        with self._flush_lock:
            self._store_pending()
            if tail:
                self._store_tail()

    def write_now(self, message: str, *, level: str = LogLevel.INFO, metadata: dict[str, str] | None = None) -> None:
        """The build's last line, stored at once in the caller's transaction (with its final status),
        so that a client who sees the build ended finds its whole log."""
        entry: Entry = {
            "timestamp": timezone.now(),
            "level": level,
            "message": self.mask(message),
            "metadata": {k: self.mask(str(v)) for k, v in (metadata or {}).items()},
        }
        with self._lock:
            seq = self._take_seq()
        try:
            store.write_lines(self.build_id, [(seq, entry)])
        except Exception:
            with self._lock:  # not stored (a database outage): the caller may try again, with this seq
                if self._next_seq == seq + 1:
                    self._next_seq = seq
            raise
        with self._lock:
            self._to_publish.append((seq, entry))
            self._lock.notify_all()

    def _store_tail(self) -> None:
        """Stores the tail lines of a capped log not stored yet (under _flush_lock)."""
        if self._marker_seq is None:
            return
        with self._lock:
            after = max(self._marker_seq, self._tail_stored_seq)
            lines = [(seq, e) for seq, e, _ in self._tail if seq > after]
        if lines:
            store.write_lines(self.build_id, lines)
            self._tail_stored_seq = lines[-1][0]

    def _store_pending(self) -> None:
        with self._lock:
            batch, self._to_store = self._to_store, []
            self._lock.notify_all()
        store.write_lines(self.build_id, batch)  # a failure loses this batch only; the build goes on

    def close(self, *, status: str | None = None) -> None:
        """Publishes and stores what is left (the tail of a capped log too); with `status`, ends the log."""
        with self._lock:
            if self._closed:
                return  # closed already
            self._closing = True
            self._lock.notify_all()
        self._publisher.join(timeout=30)
        self._flusher.join(timeout=30)
        # Called again after a database outage failed it: the threads are gone, the rest is redone.
        with self._flush_lock:
            self._store_pending()
            self._store_tail()
        try:
            store.give_back_seqs(self.build_id, reserved_up_to=self._reserved_up_to, used_up_to=self._next_seq - 1)
        except Exception:
            logger.warning("could not give back the unused log seqs of build %s", self.build_id, exc_info=True)
        if status is not None:
            store.close_log(self.build_id, status)
        self._closed = True
