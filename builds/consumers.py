"""WebSocket log stream: replay stored lines, then live lines, gap-free, then the end message.

Route ``/api/v1/builds/<id>/logs/stream`` (builds/routing.py), served by daphne next to HTTP.

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
    ====  ============================================================================

    Why not reject the handshake with HTTP 403: browsers hide a rejected handshake's status, so
    the client could not tell 401 from 404 from a network error; the envelope and code can.

What an accepted client receives
    Only the guide's LogMessage ``{build_id, timestamp, level, message, metadata}``, metadata
    values all strings, ``seq`` and ``step`` included. Stored lines with ``seq > since`` first,
    then live lines, in seq order, each exactly once: the consumer subscribes to the group before
    it reads the database, and drops live lines it has already sent (lines are published only
    after their commit, builds/logstore.py, so anything seen live is also readable).
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
    wait for anyone. A client is too far behind when, after its initial replay, the newest line
    of the build is more than STREAM_MAX_LAG_LINES ahead of the last line the server could
    write to it: it gets the lagged message and close 1013, and resumes with ``?since=``.
    Lines lost on the channel layer (a full channel drops messages) show up as a seq gap and
    are read back from the database. Under a server other than daphne (no transport to watch)
    nothing is throttled and nobody is closed for lagging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from datetime import timedelta
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from accounts.authentication import authenticate_access_token
from builds import events, selectors
from builds.daphne_socket import CLOSE_TRY_AGAIN_LATER, DaphneSocket
from builds.models import TERMINAL_STATES, Build, BuildStatus
from imagefactory.core.api import parse_uuid
from imagefactory.core.context import choose_trace_id, trace_id_var
from imagefactory.core.errors import ApiError, InvalidRequest, NotFound, envelope
from imagefactory.core.timestamps import iso_z
from imagefactory.core.tokens import bearer_token
from tenants.access import resolve_tenant_access
from tenants.roles import BUILD_READ

logger = logging.getLogger(__name__)

REPLAY_CHUNK = 500
CLOSE_CODES = {400: 4400, 401: 4401, 403: 4403, 404: 4404}
CLOSE_NORMAL = 1000
_DIGITS = re.compile(r"^[0-9]{1,12}$")
# Channel-layer events touch no database: skip Channels' per-message close_old_connections hop.
_LAYER_EVENTS = {"log.lines": "log_lines", "build.finished": "build_finished"}


def _authorize(raw_token: str | None, tenant_header: str | None, build_id: str) -> Build:
    """The HTTP rule table, by the same functions, then the build inside the tenant."""
    user = authenticate_access_token(raw_token)
    access = resolve_tenant_access(user=user, tenant_header=tenant_header, write=False, permission=BUILD_READ)
    build = selectors.builds_for(access.tenant).filter(pk=parse_uuid(build_id, name="id")).first()
    if build is None:
        raise NotFound("Build not found")
    return build


def parse_since(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not _DIGITS.match(raw):
        raise InvalidRequest("since must be a non-negative line number", details={"since": "Must be an integer >= 0."})
    return int(raw)


def _seq(line: dict) -> int:
    return int(line["metadata"]["seq"])


class BuildLogStreamConsumer(AsyncWebsocketConsumer):
    build_id = None
    group: str | None = None
    ended = False
    pump: asyncio.Task | None = None
    poller: asyncio.Task | None = None

    async def dispatch(self, message: dict) -> None:
        handler = _LAYER_EVENTS.get(message["type"])
        if handler is not None:
            await getattr(self, handler)(message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        events.register_server_loop(asyncio.get_running_loop())
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.scope["headers"]}
        trace_id_var.set(choose_trace_id(headers.get("x-request-id")))
        query = {key: values[-1] for key, values in
                 parse_qs(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True).items()}
        raw_token = bearer_token(headers.get("authorization", "")) or query.get("token")
        tenant_header = headers.get("x-tenant-id") or query.get("tenant_id")
        try:
            build = await database_sync_to_async(_authorize)(raw_token, tenant_header,
                                                             self.scope["url_route"]["kwargs"]["build_id"])
            since = parse_since(query.get("since"))
        except ApiError as refusal:
            await self._refuse(refusal)
            return
        self.build_id = build.pk
        self.last_seq = self.newest_seq = since  # last line written to the client / newest known
        self.pending: deque[dict] = deque()  # live lines that directly follow last_seq
        self.need_db = True  # the next lines have to come from the database (replay, gap)
        self.db_wanted = 0  # bumped by every reason to read the database; the pump clears need_db
        # only when no new reason arrived while it was reading
        self.replaying = True  # initial replay: the client asked for history, no lag limit yet
        self.finished_status: str | None = None
        self.finished_event = asyncio.Event()
        self.wake = asyncio.Event()
        self.socket = DaphneSocket(self.base_send)
        self.group = events.group_name(build.pk)
        # Subscribe first, then read the database: a line committed meanwhile is in the read or
        # arrives live, and the seq check drops the second copy.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.socket.bound_kernel_buffer(settings.STREAM_SOCKET_SNDBUF_BYTES)
        self.wake.set()
        self.pump = asyncio.create_task(self._pump())
        self.poller = asyncio.create_task(self._poll_status())

    async def _refuse(self, refusal: ApiError) -> None:
        await self.accept()
        await self._close_with_error(refusal)

    async def _close_with_error(self, error: ApiError) -> None:
        """One error-envelope frame, then the error's application close code."""
        body = envelope(error.status_code, error.message, code=error.code, details=error.details)
        await self.send(text_data=json.dumps(body))
        await self.close(code=CLOSE_CODES.get(error.status_code, 4400))

    async def disconnect(self, code: int) -> None:
        self.ended = True
        current = asyncio.current_task()
        for task in (self.pump, self.poller):
            if task is not None and task is not current:
                task.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- channel-layer events (never block: the publisher and other clients must not wait) -----
    async def log_lines(self, message: dict) -> None:
        """Live lines from the engine (channel-layer type `log.lines`)."""
        if self.ended or self.build_id is None:
            return
        for line in message["lines"]:
            seq = _seq(line)
            self.newest_seq = max(self.newest_seq, seq)
            if self.need_db:
                continue  # the database read in progress (or next) covers it
            expected = (_seq(self.pending[-1]) if self.pending else self.last_seq) + 1
            if seq < expected:
                continue  # already sent or queued
            if seq > expected:
                # A gap: the channel layer dropped messages (full channel), or publishers raced.
                self.pending.clear()
                self._want_db()
                continue
            self.pending.append(line)
        if not self.replaying and self.newest_seq - self.last_seq > settings.STREAM_MAX_LAG_LINES:
            await self._lagged()
            return
        self.wake.set()

    async def build_finished(self, message: dict) -> None:
        self.finished_event.set()
        self._finish(message["status"])

    def _finish(self, status: str) -> None:
        if self.finished_status is None and not self.ended:
            self.finished_status = status
            self._want_db()  # every line is committed before the end is published: read them
            self.wake.set()

    def _want_db(self) -> None:
        self.need_db = True
        self.db_wanted += 1

    # --- the pump: the only writer of lines --------------------------------------------------
    def _has_work(self) -> bool:
        return self.need_db or bool(self.pending) or self.last_seq < self.newest_seq

    async def _pump(self) -> None:
        try:
            while not self.ended:
                await self.wake.wait()
                self.wake.clear()
                while not self.ended and self._has_work():
                    if not await self._wait_for_room():
                        return
                    if self.need_db or not self.pending:
                        await self._send_from_db()
                    else:
                        batch, self.pending = self.pending, deque()
                        for line in batch:
                            await self._send_line(line)
                if self.ended:
                    return
                self.replaying = False
                if self.finished_status is not None:
                    await self._end(self.finished_status)
                    return
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("log stream of build %s failed", self.build_id)
            await self.close(code=1011)

    async def _send_from_db(self) -> None:
        self.need_db = True
        wanted, newest = self.db_wanted, self.newest_seq
        lines = await self._lines_after(self.last_seq)
        if self.ended:
            return
        for line in lines:
            await self._send_line(line)
        while self.pending and _seq(self.pending[0]) <= self.last_seq:
            self.pending.popleft()
        unchanged = self.db_wanted == wanted and self.newest_seq == newest  # nothing arrived meanwhile
        if not lines and unchanged:
            self.newest_seq = self.last_seq  # the newest line is not stored (any more): the build was deleted
        if len(lines) < REPLAY_CHUNK and self.last_seq >= self.newest_seq and self.db_wanted == wanted:
            self.need_db = False  # caught up with the database; live lines take over

    async def _wait_for_room(self) -> bool:
        """Waits while the client's send buffer is full; False once the client was closed as lagging."""
        while self.socket.backlog_bytes() > settings.STREAM_SEND_BUFFER_BYTES:
            if not self.replaying and self.newest_seq - self.last_seq > settings.STREAM_MAX_LAG_LINES:
                await self._lagged()
                return False
            await asyncio.sleep(settings.STREAM_DRAIN_POLL_SECONDS)
            if self.ended:
                return False
        return True

    async def _send_line(self, line: dict) -> None:
        if self.ended:  # closed meanwhile (deleted, lagged): nothing may follow the last frame
            return
        self.last_seq = _seq(line)
        self.newest_seq = max(self.newest_seq, self.last_seq)
        await self.send(text_data=json.dumps(line))

    @database_sync_to_async
    def _lines_after(self, after_seq: int) -> list[dict]:
        return [events.line_payload(line)
                for line in selectors.log_lines_after(self.build_id, after_seq=after_seq, limit=REPLAY_CHUNK)]

    # --- the end -------------------------------------------------------------------------------
    @database_sync_to_async
    def _build_state(self) -> dict | None:
        return (Build.objects.filter(pk=self.build_id)
                .values("status", "slot_acquired_at", "completed_at").first())

    async def _poll_status(self) -> None:
        """Ends the stream of a build that is (or becomes) terminal even if its end event was lost.

        A failing read (database restarting, connection dropped) is logged and retried at the next
        poll: if the poller died, a client whose end event was lost would wait forever.
        """
        try:
            while not self.ended and self.finished_status is None:
                try:
                    state = await self._build_state()
                except Exception:
                    logger.exception("log stream of build %s: reading its status failed, polling on", self.build_id)
                else:
                    if state is None:  # deleted (a queued or finished build can be): nothing more will come
                        await self._deleted()
                        return
                    if state["status"] in TERMINAL_STATES:
                        await self._settle(state)
                        self._finish(state["status"])
                        return
                await asyncio.sleep(settings.STREAM_STATUS_POLL_SECONDS)
        except asyncio.CancelledError:
            pass

    async def _deleted(self) -> None:
        if self.ended:
            return
        self.ended = True
        await self._close_with_error(NotFound("Build was deleted"))

    async def _settle(self, state: dict) -> None:
        """A build cancelled while a worker held it gets its last lines from that worker a moment
        later; wait for the worker's end event (or the grace period) before ending the stream."""
        if state["status"] != BuildStatus.CANCELLED or state["slot_acquired_at"] is None:
            return
        completed = state["completed_at"] or timezone.now()
        remaining = (completed + timedelta(seconds=settings.STREAM_END_GRACE_SECONDS) - timezone.now()).total_seconds()
        if remaining > 0:
            try:
                await asyncio.wait_for(self.finished_event.wait(), remaining)
            except TimeoutError:
                pass

    def _control(self, message: str, *, level: str, **metadata: str) -> dict:
        return {"build_id": str(self.build_id), "timestamp": iso_z(),
                "level": level, "message": message,
                "metadata": {**metadata, "seq": str(self.last_seq), "step": "system"}}

    async def _end(self, status: str) -> None:
        self.ended = True
        await self.send(text_data=json.dumps(self._control(f"Build finished: {status}", level="INFO",
                                                           event="end", status=status)))
        await self.close(code=CLOSE_NORMAL)

    async def _lagged(self) -> None:
        if self.ended:
            return
        self.ended = True
        logger.info("closing the log stream of build %s: client %s lines behind", self.build_id,
                    self.newest_seq - self.last_seq)
        await self.send(text_data=json.dumps(self._control(
            f"Stream closed: this client fell more than {settings.STREAM_MAX_LAG_LINES} lines behind; "
            f"reconnect with ?since={self.last_seq}", level="WARN", event="lagged")))
        if not self.socket.close_try_again_later(settings.STREAM_CLOSE_GRACE_SECONDS):
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
