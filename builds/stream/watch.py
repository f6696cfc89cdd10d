"""What ends a log stream besides the worker's end event: the build's status read now and then
(the event can be lost), and the client's access checked again over time.

A mixin of the consumer (builds/stream/consumer.py), which documents the close codes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
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
                    state = await self._build_state()
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
            while not self.closed:
                try:
                    await asyncio.wait_for(self.access_changed_event.wait(), settings.STREAM_ACCESS_CHECK_SECONDS)
                except TimeoutError:
                    pass
                self.access_changed_event.clear()
                if self.closed:
                    return
                try:
                    await database_sync_to_async(stream_access.authorize)(*self.credentials)
                    if self.counted:
                        await sync_to_async(stream_access.keep_place)(self.user_id)
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
