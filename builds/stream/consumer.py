"""WebSocket log stream: replay stored lines, then live lines, gap-free, then the end message.

Route ``/api/v1/builds/<id>/logs/stream`` (builds/stream/routing.py), served by daphne next to HTTP.

Who may connect
    The HTTP rule table, by the same functions (``authenticate_access_token`` then
    ``resolve_tenant_access(permission="build:read")``, then the build inside that tenant).
    Credentials come from the ``Authorization: Bearer <access token>`` and ``X-Tenant-ID``
    headers, as in the guide's websocat and Node examples, or, for browsers (which cannot set
    headers), from ``?token=<access token>&tenant_id=<uuid>``; a header wins over the parameter.

Refusals (the documented choice)
    The handshake is ACCEPTED, the client receives exactly ONE text frame holding the guide's
    error envelope ``{error, code, timestamp, trace_id, details}`` (the same body the HTTP API
    answers), then the server closes with an application close code; no log line is ever sent:

    ====  ============================================================================
    4401  no token, invalid/expired token, refresh token instead of access, inactive user
    4400  tenant missing / not a UUID / nil UUID, malformed build id, bad ``?since=``
    4403  unknown tenant or not a member (same body); role without build:read
          (``details.permission == "build:read"``)
    4404  unknown build or another tenant's build (identical bodies); also, after its
          lines so far, a build deleted while the client is connected ("Build was deleted")
    4429  the user's request rate limit (handshakes count like requests), or already
          STREAM_MAX_CONNECTIONS_PER_USER open streams
    1013  ``SERVICE_UNAVAILABLE``: the channel layer (Redis) is unreachable, at the handshake
          or later while streaming; reconnect with ``?since=`` a moment later (4503 under a
          server that cannot send 1013)
    ====  ============================================================================

    Why not reject the handshake with HTTP 403: browsers hide a rejected handshake's status, so
    the client could not tell 401 from 404 from a network error; the envelope and code can.

What an accepted client receives
    Only the guide's LogMessage ``{build_id, timestamp, level, message, metadata}``, metadata
    values all strings, ``seq`` and ``step`` included. Stored lines with ``seq > since`` first,
    then live lines, in seq order, each exactly once: the consumer subscribes to the group before
    it reads the database, and drops live lines it has already sent (lines are published only
    after their commit, builds/logs/store.py, so anything seen live is also readable). The
    rules of what goes out next live in builds/stream/cursor.py.
    Control messages carry ``metadata.event`` and the seq of the last line sent before them
    (so ``?since=<seq of the last message>`` always resumes correctly):

    * end: ``INFO "Build finished: <status>"``, ``{event: end, status}``, then close 1000. Sent
      after the build's last line; a finished build replays, then ends the same way.
    * lagged: ``WARN``, ``{event: lagged}``, then close 1013 (slow clients, below).
    * deleted: the build was deleted while the client was connected (queued and finished builds
      can be): one error-envelope frame (``NOT_FOUND``, "Build was deleted"), then close 4404,
      like a refusal of an unknown build.

    The end event can be lost (the channel layer drops messages of a full channel), so the build's
    status is also read every STREAM_STATUS_POLL_SECONDS; a failing read is logged and retried.

Access that ends
    An open stream checks its client's access again, by the same functions, every
    STREAM_ACCESS_CHECK_SECONDS and at once when told through the user's access group
    (membership or role changed, user deactivated, tokens revoked: tenants/signals.py,
    accounts.models.User.revoke_tokens). When the access is gone (or the access token expired)
    the client receives one error-envelope frame and close 4403; it reconnects with a fresh token
    and ``?since=``.

Heartbeat
    daphne pings every connection that sent nothing for ``--ping-interval`` seconds and drops
    a peer that does not answer within ``--ping-timeout`` (scripts/serve: 20/30 s; tests 5/10 s).
    WebSocket clients answer pings by themselves; nothing to do in the application.

Slow clients
    daphne's ASGI ``send`` never waits for the socket: autobahn hands every frame to Twisted,
    which buffers without limit. So the consumer watches that buffer itself (the transport
    behind daphne's ``send``): it writes lines only while fewer than STREAM_SEND_BUFFER_BYTES
    wait there. Lines it cannot write yet are not kept in memory (they are in the database);
    channel-layer handlers never block, so the publisher (worker) and the other clients never
    wait for anyone. A client is too far behind when, after its initial replay, its send buffer
    is full and the newest line of the build is more than STREAM_MAX_LAG_LINES ahead of the last
    line written to it (a busy server catching up never closes a client that reads): it gets
    the lagged message and close 1013, and resumes with ``?since=``.
    Lines lost on the channel layer (a full channel drops messages) show up as a seq gap and
    are read back from the database. Under a server other than daphne (no transport to watch,
    builds/stream/transport.py) nothing is throttled and nobody is closed for lagging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from builds import selectors
from builds.logs import publish
from builds.logs.messages import line_message
from builds.stream import access as stream_access
from builds.stream.cursor import End, ReadStore, Send, StreamCursor, Wait, seq_of
from builds.stream.transport import CLOSE_TRY_AGAIN_LATER, DaphneSendBuffer
from builds.stream.watch import StreamWatch
from imagefactory.core import metrics
from imagefactory.core.channels import ACCESS_CHANGED_EVENT, access_group, register_server_loop
from imagefactory.core.context import choose_trace_id, trace_id_var
from imagefactory.core.errors import ApiError, InvalidRequest, ServiceUnavailable, envelope
from imagefactory.core.timestamps import iso_z
from imagefactory.core.tokens import bearer_token

logger = logging.getLogger(__name__)

REPLAY_CHUNK = 500
CLOSE_CODES = {400: 4400, 401: 4401, 403: 4403, 404: 4404, 429: 4429}
CLOSE_NORMAL = 1000
CLOSE_UNAVAILABLE = 4503  # where 1013 cannot be sent (a server other than daphne)
_DIGITS = re.compile(r"^[0-9]{1,12}$")
# Channel-layer events touch no database: skip Channels' per-message close_old_connections hop.
_LAYER_EVENTS = {
    publish.LINES_EVENT: "log_lines",
    publish.FINISHED_EVENT: "build_finished",
    ACCESS_CHANGED_EVENT: "access_changed",
}


def parse_since(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not _DIGITS.match(raw):
        raise InvalidRequest("since must be a non-negative line number", details={"since": "Must be an integer >= 0."})
    return int(raw)


class BuildLogStreamConsumer(StreamWatch, AsyncWebsocketConsumer):
    build_id: Any = None
    group: str | None = None
    user_id: int | None = None  # the accepted client's user
    counted = False  # the stream holds one of the user's places (given back at the end)
    closed = False  # nothing may be sent any more (ended, refused, lagged, deleted, disconnected)
    pump: asyncio.Task[None] | None = None
    poller: asyncio.Task[None] | None = None
    access_watch: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = _LAYER_EVENTS.get(message["type"])
        if handler is not None:
            await getattr(self, handler)(message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        register_server_loop(asyncio.get_running_loop())
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.scope["headers"]}
        trace_id_var.set(choose_trace_id(headers.get("x-request-id")))
        query = {
            key: values[-1]
            for key, values in parse_qs(
                self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
            ).items()
        }
        raw_token = bearer_token(headers.get("authorization", "")) or query.get("token")
        tenant_header = headers.get("x-tenant-id") or query.get("tenant_id")
        self.credentials = (raw_token, tenant_header, self.scope["url_route"]["kwargs"]["build_id"])
        try:
            user_id, build = await database_sync_to_async(stream_access.authorize)(*self.credentials)
            since = parse_since(query.get("since"))
            counted = await sync_to_async(stream_access.admit)(user_id, tenant_header)
        except ApiError as refusal:
            await self.accept()
            await self._close_with_error(refusal)
            return
        self.user_id = user_id
        metrics.STREAM_CLIENTS.inc()  # given back in disconnect(), with the user id
        self.counted = counted
        self.build_id = build.pk
        self.cursor = StreamCursor(
            since, buffer_limit=settings.STREAM_MAX_LAG_LINES, gap_grace_seconds=settings.STREAM_GAP_GRACE_SECONDS
        )
        self.sent_seq = since  # the last line really written to the client (the cursor hands out ahead)
        self.finished_event = asyncio.Event()  # the worker's end event (see _settle)
        self.wake = asyncio.Event()
        self.socket = DaphneSendBuffer(self.base_send)
        # Subscribe first, then read the database: a line committed meanwhile is in the read or
        # arrives live, and the cursor drops the second copy.
        self.access_changed_event = asyncio.Event()
        try:
            await self.channel_layer.group_add(publish.group_name(build.pk), self.channel_name)
            self.group = publish.group_name(build.pk)
            await self.channel_layer.group_add(access_group(user_id), self.channel_name)
        except Exception:
            logger.warning("log stream of build %s refused: the channel layer is unreachable", build.pk, exc_info=True)
            await self.accept()
            await self._unavailable()
            return
        await self.accept()
        self.socket.bound_kernel_buffer(settings.STREAM_SOCKET_SNDBUF_BYTES)
        self.wake.set()
        self.pump = asyncio.create_task(self._pump())
        self.poller = asyncio.create_task(self._poll_status())
        self.access_watch = asyncio.create_task(self._watch_access())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' dispatch loop, which ends with an exception when the channel layer's connection
        fails (Redis restarted): the client then gets a readable refusal, not a bare 1011."""
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if self.build_id is None and not self.closed:
                raise
            logger.warning("log stream of build %s: the channel layer failed", self.build_id, exc_info=True)
            try:
                if not self.closed:
                    await self._unavailable()
            finally:
                await self.disconnect(CLOSE_TRY_AGAIN_LATER)

    async def _unavailable(self) -> None:
        """One error envelope (SERVICE_UNAVAILABLE), then close 1013: reconnect with ?since= a bit later."""
        self.closed = True
        error = ServiceUnavailable(
            "Live log streaming is unavailable for a moment; reconnect with ?since=<seq of the last line>",
            details={"since": str(getattr(self, "sent_seq", 0))},
        )
        body = envelope(error.status_code, error.message, code=error.code, details=error.details)
        await self.send(text_data=json.dumps(body))
        socket = DaphneSendBuffer(self.base_send)
        if not socket.close_try_again_later(settings.STREAM_CLOSE_GRACE_SECONDS):
            await self.close(code=CLOSE_UNAVAILABLE)

    async def _close_with_error(self, error: ApiError, *, code: int | None = None) -> None:
        """One error-envelope frame, then the error's application close code."""
        self.closed = True
        body = envelope(error.status_code, error.message, code=error.code, details=error.details)
        await self.send(text_data=json.dumps(body))
        await self.close(code=code or CLOSE_CODES.get(error.status_code, 4400))

    async def disconnect(self, code: int) -> None:
        self.closed = True
        current = asyncio.current_task()
        for task in (self.pump, self.poller, self.access_watch):
            if task is not None and task is not current:
                task.cancel()
        group, self.group = self.group, None
        user_id, self.user_id = self.user_id, None
        counted, self.counted = self.counted, False
        if user_id is not None:
            metrics.STREAM_CLIENTS.dec()
        try:
            if group:
                await self.channel_layer.group_discard(group, self.channel_name)
            if user_id is not None:
                await self.channel_layer.group_discard(access_group(user_id), self.channel_name)
        except Exception:  # the channel layer may be why we are leaving; its groups expire on their own
            logger.warning("log stream of build %s could not leave its groups", self.build_id, exc_info=True)
        if user_id is not None and counted:
            await sync_to_async(stream_access.release)(user_id)

    # --- channel-layer events (never block: the publisher and other clients must not wait) -----
    async def log_lines(self, message: dict[str, Any]) -> None:
        """Live lines from the worker (channel-layer type `log.lines`)."""
        if self.closed or self.build_id is None:
            return
        self.cursor.live(message["lines"])
        if self._too_far_behind():
            await self._lagged()
            return
        self.wake.set()

    async def build_finished(self, message: dict[str, Any]) -> None:
        self.finished_event.set()
        self._finish(message["status"])

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The user's membership, role or tokens changed: check again now, not at the next round."""
        if not self.closed:
            self.access_changed_event.set()

    def _finish(self, status: str) -> None:
        if not self.closed:
            self.cursor.finish(status)
            self.wake.set()

    # --- the pump: the only writer of lines --------------------------------------------------
    async def _pump(self) -> None:
        try:
            while not self.closed:
                step = self.cursor.next_step(time.monotonic())
                if isinstance(step, Wait):
                    await self._wait_for_news(step.until)
                elif isinstance(step, ReadStore):
                    token = self.cursor.store_read_started()
                    lines = await self._lines_after(step.after_seq)
                    self.cursor.stored(lines, token=token, complete=len(lines) < REPLAY_CHUNK, now=time.monotonic())
                elif isinstance(step, Send):
                    if not await self._wait_for_room():
                        return
                    for line in step.lines:
                        if self.closed:  # closed meanwhile (deleted, lagged): nothing may follow the last frame
                            return
                        await self.send(text_data=json.dumps(line))
                        self.sent_seq = seq_of(line)
                elif isinstance(step, End):
                    await self._end(step.status)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("log stream of build %s failed", self.build_id)
            await self.close(code=1011)

    async def _wait_for_news(self, until: float | None) -> None:
        """Until something arrives (a live line, the end), or until `until` to look at the store again."""
        try:
            timeout = None if until is None else max(0.0, until - time.monotonic())
            await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            pass
        self.wake.clear()

    def _too_far_behind(self) -> bool:
        """The client, not the server, is behind: lines are waiting in its full send buffer and the
        build is far ahead. A busy server whose pump has not caught up yet, while the client reads
        everything it is sent, is not a slow client and is never closed for it."""
        return (
            not self.cursor.replaying
            and self.cursor.newest - self.sent_seq > settings.STREAM_MAX_LAG_LINES
            and self.socket.backlog_bytes() > settings.STREAM_SEND_BUFFER_BYTES
        )

    async def _wait_for_room(self) -> bool:
        """Waits while the client's send buffer is full; False once the client was closed as lagging."""
        while self.socket.backlog_bytes() > settings.STREAM_SEND_BUFFER_BYTES:
            if self._too_far_behind():
                await self._lagged()
                return False
            await asyncio.sleep(settings.STREAM_DRAIN_POLL_SECONDS)
            if self.closed:
                return False
        return True

    @database_sync_to_async
    def _lines_after(self, after_seq: int) -> list[dict[str, Any]]:
        return [
            line_message(line)
            for line in selectors.log_lines_after(self.build_id, after_seq=after_seq, limit=REPLAY_CHUNK)
        ]

    # --- the end -------------------------------------------------------------------------------
    def _control(self, message: str, *, level: str, **metadata: str) -> dict[str, Any]:
        return {
            "build_id": str(self.build_id),
            "timestamp": iso_z(),
            "level": level,
            "message": message,
            "metadata": {**metadata, "seq": str(self.sent_seq), "step": "system"},
        }

    async def _end(self, status: str) -> None:
        self.closed = True
        await self.send(
            text_data=json.dumps(self._control(f"Build finished: {status}", level="INFO", event="end", status=status))
        )
        await self.close(code=CLOSE_NORMAL)

    async def _lagged(self) -> None:
        if self.closed:
            return
        self.closed = True
        logger.info(
            "closing the log stream of build %s: client %s lines behind",
            self.build_id,
            self.cursor.newest - self.sent_seq,
        )
        await self.send(
            text_data=json.dumps(
                self._control(
                    f"Stream closed: this client fell more than {settings.STREAM_MAX_LAG_LINES} lines behind; "
                    f"reconnect with ?since={self.sent_seq}",
                    level="WARN",
                    event="lagged",
                )
            )
        )
        if not self.socket.close_try_again_later(settings.STREAM_CLOSE_GRACE_SECONDS):
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
