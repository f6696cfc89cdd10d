"""Which lines a log-stream client gets next: the replay/live seam, de-duplication and gap filling.

Pure logic, no I/O: the consumer feeds it what arrives (live lines, lines read from the store,
the end) and asks it for the next step. Tested without a socket (builds/tests/test_stream_cursor.py).

The rules:
- Lines go out in seq order, each once: a live line is sent only when it directly follows the
  last line sent; anything else is read from the store, which is authoritative (lines dropped
  from the middle of an over-long log leave seq gaps there, and that is fine).
- The store is read at the start (the replay after ``since``), whenever a live seq shows a gap
  (the channel layer drops messages of a full channel), and once more after the end arrives
  (lines are stored before the end is announced, but some may not have arrived live).
- Lines are published before they are stored (builds/logs/sink.py), so a gap may not be in the
  store yet: it is read again every ``retry_seconds``. A gap the store still lacks after
  ``gap_grace_seconds``, or at the end, is never coming (the middle of a capped log, lines of a
  worker that died before storing them) and is skipped.
- Live lines are buffered only up to ``buffer_limit``; beyond that they are dropped and read
  back from the store, so a client that is behind costs memory it can be held to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Line = dict[str, Any]


def seq_of(line: Line) -> int:
    return int(line["metadata"]["seq"])


@dataclass(frozen=True)
class Send:
    lines: list[Line]


@dataclass(frozen=True)
class ReadStore:
    after_seq: int


@dataclass(frozen=True)
class End:
    status: str


@dataclass(frozen=True)
class Wait:
    """Nothing to do until something arrives, or until `until` (a monotonic time) to look again."""

    until: float | None = None


Step = Send | ReadStore | End | Wait


class StreamCursor:
    def __init__(
        self, since: int = 0, *, buffer_limit: int = 1000, retry_seconds: float = 0.1, gap_grace_seconds: float = 3.0
    ):
        self.last_sent = since  # seq of the last line handed out to be sent
        self.newest = since  # highest seq known to exist
        self.buffer_limit = buffer_limit
        self.retry_seconds = retry_seconds
        self.gap_grace_seconds = gap_grace_seconds
        self._gap_since: float | None = None  # when the store first lacked the gap after last_sent
        self._retry_at: float | None = None
        self.replaying = True  # the initial replay: the client asked for history, so no lag limit yet
        self.finished: str | None = None
        self._live: dict[int, Line] = {}
        self._from_store: list[Line] = []
        self._store_wanted = True  # the initial replay
        self._store_reasons = 0  # bumped by every new reason to read the store

    # --- inputs ------------------------------------------------------------------------------
    def live(self, lines: Iterable[Line]) -> None:
        """Lines published while the client is connected."""
        for line in lines:
            seq = seq_of(line)
            self.newest = max(self.newest, seq)
            if seq > self.last_sent:
                self._live[seq] = line
        if len(self._live) > self.buffer_limit:
            self._live.clear()  # the store has them; reading them back later costs no memory now
            self._want_store()

    def finish(self, status: str) -> None:
        """The build ended. Every line is stored before the end is announced: read the store once more."""
        if self.finished is None:
            self.finished = status
            self._want_store()

    def store_read_started(self) -> int:
        """Call before reading the store; hand the returned token to `stored`."""
        return self._store_reasons

    def stored(self, lines: list[Line], *, token: int, complete: bool, now: float) -> None:
        """Lines read from the store after `last_sent` (ascending); `complete`: nothing more was there."""
        fresh = [line for line in lines if seq_of(line) > self.last_sent]
        if fresh:
            self._from_store = fresh
            self.newest = max(self.newest, seq_of(fresh[-1]))
        elif complete and self.newest > self.last_sent and self.last_sent + 1 not in self._live:
            after_the_end = self.finished is not None and token == self._store_reasons
            self._store_lacks_the_gap(now, read_after_the_end=after_the_end)
        if complete and token == self._store_reasons:
            self._store_wanted = False  # caught up with the store; live lines take over

    def _store_lacks_the_gap(self, now: float, *, read_after_the_end: bool) -> None:
        """`read_after_the_end`: the read started after the end arrived, so it saw every stored line
        (a read started before may predate lines stored just before the end)."""
        if self._gap_since is None:
            self._gap_since = now
        if not read_after_the_end and now - self._gap_since < self.gap_grace_seconds:
            self._retry_at = now + self.retry_seconds  # not stored yet: look again soon
            return
        # Never coming: go on with the next line that is here, or wait for new ones.
        self.last_sent = min(self._live) - 1 if self._live else self.newest
        self._gap_since = self._retry_at = None

    # --- output ------------------------------------------------------------------------------
    def next_step(self, now: float = 0.0) -> Step:
        if self._from_store:
            batch, self._from_store = self._from_store, []
            return self._hand_out(batch)
        if self.last_sent + 1 in self._live:
            batch = []
            while self.last_sent + 1 + len(batch) in self._live:
                batch.append(self._live.pop(self.last_sent + 1 + len(batch)))
            return self._hand_out(batch)
        if self._store_wanted or self.newest > self.last_sent:
            if self._retry_at is not None and now < self._retry_at:
                return Wait(until=self._retry_at)
            self._retry_at = None
            return ReadStore(self.last_sent)
        self.replaying = False
        if self.finished is not None:
            return End(self.finished)
        return Wait()

    # --- internals -----------------------------------------------------------------------------
    def _hand_out(self, batch: list[Line]) -> Send:
        self._gap_since = self._retry_at = None
        self.last_sent = seq_of(batch[-1])
        self.newest = max(self.newest, self.last_sent)
        for seq in [seq for seq in self._live if seq <= self.last_sent]:
            del self._live[seq]
        return Send(batch)

    def _want_store(self) -> None:
        self._store_wanted = True
        self._store_reasons += 1
