"""What ends a log stream besides the worker's end event: the build's status read now and then
(the event can be lost), and the client's access checked again over time.

A mixin of the consumer (builds/stream/consumer.py), which documents the close codes. The streams
of one server process share these reads (SharedReads): a hundred clients of one build cost one
status read per poll, not a hundred, all queued on the one database thread of database_sync_to_async
(which then made new handshakes wait seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import timedelta
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from builds.models import Build
from builds.states import TERMINAL_STATES, worker_writes_the_end
from builds.stream import access as stream_access
from imagefactory.core.errors import ApiError, Forbidden, NotFound

logger = logging.getLogger(__name__)

CLOSE_ACCESS_ENDED = 4403


class SharedReads:
    """One read for every stream of this process (and event loop) that asks the same question: a
    read younger than `fresh_for` seconds, and started at or after `not_before`, is shared."""

    def __init__(self) -> None:
        self._reads: dict[tuple[Any, Hashable], tuple[float, asyncio.Future[Any]]] = {}

    async def get(
        self, key: Hashable, read: Callable[[], Awaitable[Any]], *, fresh_for: float, not_before: float = 0.0
    ) -> Any:
        loop = asyncio.get_running_loop()
        slot, now = (loop, key), time.monotonic()
        entry = self._reads.get(slot)
        if entry is None or now - entry[0] >= fresh_for or entry[0] < not_before or _failed(entry[1]):
            future = asyncio.ensure_future(read())
            future.add_done_callback(_retrieve)
            self._reads[slot] = entry = (now, future)
            loop.call_later(max(fresh_for, 0.0) + 1.0, self._forget, slot, entry)
        return await asyncio.shield(entry[1])

    def _forget(self, slot: tuple[Any, Hashable], entry: tuple[float, asyncio.Future[Any]]) -> None:
        if self._reads.get(slot) is entry:
            del self._reads[slot]


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # read by whoever awaits it; this only keeps asyncio from warning


shared_reads = SharedReads()


class StreamWatch:
    """The consumer's status poller and access watcher (run as its `poller` and `access_watch` tasks)."""

    build_id: Any
    closed: bool
    counted: bool
    user_id: int | None
    credentials: tuple[str | None, str | None, str]
    cursor: Any
    finished_event: asyncio.Event
    access_changed_event: asyncio.Event
    # and from the consumer: _close_with_error(error, code=...), _finish(status)

    # --- the end, when its event was lost -------------------------------------------------------
    @database_sync_to_async
    def _build_state(self) -> dict[str, Any] | None:
        return Build.objects.filter(pk=self.build_id).values("status", "slot_acquired_at", "completed_at").first()

    async def _poll_status(self) -> None:
        """Ends the stream of a build that is (or becomes) terminal even if its end event was lost.

        A failing read (database restarting, connection dropped) is logged and retried at the next
        poll: if the poller died, a client whose end event was lost would wait forever.
        """
        try:
            while not self.closed and self.cursor.finished is None:
                try:
                    state = await shared_reads.get(
                        ("status", self.build_id), self._build_state, fresh_for=settings.STREAM_STATUS_POLL_SECONDS / 2
                    )
                except Exception:
                    logger.exception("log stream of build %s: reading its status failed, polling on", self.build_id)
                else:
                    if state is None:  # deleted (a queued or finished build can be): nothing more will come
                        if not self.closed:
                            await self._close_with_error(NotFound("Build was deleted"))
                        return
                    if state["status"] in TERMINAL_STATES:
                        await self._settle(state)
                        self._finish(state["status"])
                        return
                await asyncio.sleep(settings.STREAM_STATUS_POLL_SECONDS)
        except asyncio.CancelledError:
            pass

    async def _settle(self, state: dict[str, Any]) -> None:
        """A build cancelled while a worker held it gets its last lines from that worker a moment
        later; wait for the worker's end event (or the grace period) before ending the stream."""
        if not worker_writes_the_end(state["status"], state["slot_acquired_at"]):
            return
        completed = state["completed_at"] or timezone.now()
        remaining = (completed + timedelta(seconds=settings.STREAM_END_GRACE_SECONDS) - timezone.now()).total_seconds()
        if remaining > 0:
            try:
                await asyncio.wait_for(self.finished_event.wait(), remaining)
            except TimeoutError:
                pass

    # --- access over time --------------------------------------------------------------------
    async def _watch_access(self) -> None:
        """Closes the stream (4403, one envelope) once its client may no longer read the build."""
        try:
            every = settings.STREAM_ACCESS_CHECK_SECONDS
            while not self.closed:
                told_at = 0.0  # a change pushed to us: only a check started after it counts
                try:
                    await asyncio.wait_for(self.access_changed_event.wait(), every)
                    told_at = time.monotonic()
                except TimeoutError:
                    pass
                self.access_changed_event.clear()
                if self.closed:
                    return
                try:
                    await shared_reads.get(
                        ("access", self.credentials),
                        partial(database_sync_to_async(stream_access.authorize), *self.credentials),
                        fresh_for=every / 2,
                        not_before=told_at,
                    )
                    if self.counted:
                        keep_place = partial(sync_to_async(stream_access.keep_place), self.user_id)
                        await shared_reads.get(("place", self.user_id), keep_place, fresh_for=every / 2)
                except NotFound:
                    return  # the build was deleted: the status poller ends the stream with 4404
                except ApiError as refusal:
                    logger.info("closing the log stream of build %s: %s", self.build_id, refusal.message)
                    if not self.closed:
                        await self._close_with_error(
                            Forbidden(f"Access ended: {refusal.message}", details=refusal.details),
                            code=CLOSE_ACCESS_ENDED,
                        )
                    return
                except Exception:
                    logger.exception("log stream of build %s: checking access failed, checking again", self.build_id)
        except asyncio.CancelledError:
            pass
