"""WebSocket log stream: replay stored lines, then live lines, gap-free, then the end message."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections

from accounts.authentication import authenticate_access_token, bearer_token
from builds import events, selectors
from builds.models import TERMINAL_STATES, Build
from imagefactory.api import parse_uuid
from imagefactory.context import choose_trace_id, trace_id_var
from imagefactory.errors import ApiError, InvalidRequest, NotFound, envelope
from tenants.access import resolve_tenant_access
from tenants.permissions import BUILD_READ

logger = logging.getLogger(__name__)

REPLAY_CHUNK = 1000
# Refusals are sent as one envelope frame, then an application close code (documented in README).
CLOSE_CODES = {400: 4400, 401: 4401, 403: 4403, 404: 4404}
CLOSE_NORMAL = 1000
CLOSE_TRY_AGAIN_LATER = 1013


def _authorize(raw_token: str | None, tenant_header: str | None, build_id: str) -> Build:
    """The HTTP rule table, by the same functions, then the build inside the tenant."""
    close_old_connections()
    user = authenticate_access_token(raw_token)
    access = resolve_tenant_access(user=user, tenant_header=tenant_header, write=False, permission=BUILD_READ)
    build = selectors.builds_for(access.tenant).filter(pk=parse_uuid(build_id, name="id")).first()
    if build is None:
        raise NotFound("Build not found")
    return build


class BuildLogStreamConsumer(AsyncWebsocketConsumer):
    build: Build | None = None
    last_seq = 0
    ended = False

    async def connect(self) -> None:
        events.register_server_loop(asyncio.get_running_loop())
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.scope["headers"]}
        trace_id_var.set(choose_trace_id(headers.get("x-request-id")))
        query = {key: values[-1] for key, values in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        raw_token = bearer_token(headers.get("authorization", "")) or query.get("token")
        tenant_header = headers.get("x-tenant-id") or query.get("tenant_id")
        build_id = self.scope["url_route"]["kwargs"]["build_id"]
        try:
            since = self._parse_since(query.get("since"))
            self.build = await database_sync_to_async(_authorize)(raw_token, tenant_header, build_id)
        except ApiError as refusal:
            await self._refuse(refusal)
            return
        self.group = events.group_name(self.build.pk)
        self.last_seq = since
        # Subscribe first, then replay: a line published meanwhile is either in the replay
        # or queued for us, and the seq check below drops the duplicate.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._catch_up()
        status = await self._status()
        if status in TERMINAL_STATES:
            await self._catch_up()
            await self._end(status)
            return
        self.poller = asyncio.create_task(self._poll_status())

    @staticmethod
    def _parse_since(raw: str | None) -> int:
        if raw is None or raw == "":
            return 0
        if not raw.isdigit():
            raise InvalidRequest("since must be a non-negative line number",
                                 details={"since": "Must be an integer >= 0."})
        return int(raw)

    async def _refuse(self, refusal: ApiError) -> None:
        await self.accept()
        body = envelope(refusal.status_code, refusal.message, code=refusal.code, details=refusal.details)
        await self.send(text_data=json.dumps(body))
        await self.close(code=CLOSE_CODES.get(refusal.status_code, 4400))

    async def disconnect(self, code: int) -> None:
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.cancel()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- replay and live -------------------------------------------------------------------
    @database_sync_to_async
    def _lines_after(self, after_seq: int) -> list[dict]:
        close_old_connections()
        return [events.line_payload(line)
                for line in selectors.log_lines_after(self.build.pk, after_seq=after_seq, limit=REPLAY_CHUNK)]

    @database_sync_to_async
    def _status(self) -> str | None:
        close_old_connections()
        return Build.objects.filter(pk=self.build.pk).values_list("status", flat=True).first()

    async def _catch_up(self) -> None:
        while not self.ended:
            lines = await self._lines_after(self.last_seq)
            for line in lines:
                await self._send_line(line)
            if len(lines) < REPLAY_CHUNK:
                return

    async def _send_line(self, line: dict) -> None:
        self.last_seq = int(line["metadata"]["seq"])
        await self.send(text_data=json.dumps(line))

    async def log_lines(self, message: dict) -> None:
        """Live lines from the engine (channel-layer type `log.lines`)."""
        if self.ended or self.build is None:
            return
        for line in message["lines"]:
            seq = int(line["metadata"]["seq"])
            if seq <= self.last_seq:
                continue  # already replayed
            if seq > self.last_seq + 1:
                # Lines were lost on the way (the channel layer dropped them for a slow reader).
                if seq - self.last_seq > settings.STREAM_MAX_LAG_LINES:
                    await self._too_slow()
                    return
                await self._catch_up()
                if seq <= self.last_seq:
                    continue
            await self._send_line(line)

    async def build_finished(self, message: dict) -> None:
        if self.ended or self.build is None:
            return
        await self._catch_up()
        await self._end(message["status"])

    async def _poll_status(self) -> None:
        """Safety net for a lost end event (e.g. a worker that died): ends the stream anyway."""
        try:
            while not self.ended:
                await asyncio.sleep(settings.STREAM_STATUS_POLL_SECONDS)
                status = await self._status()
                if status is None:
                    await self.close(code=CLOSE_NORMAL)
                    return
                if status in TERMINAL_STATES:
                    await asyncio.sleep(settings.STREAM_STATUS_POLL_SECONDS)  # let the worker flush
                    await self.build_finished({"status": status})
                    return
        except asyncio.CancelledError:
            pass

    async def _too_slow(self) -> None:
        self.ended = True
        await self.send(text_data=json.dumps(envelope(
            429, "Client fell too far behind the live log; reconnect with ?since=<last seq>",
            code="CLIENT_TOO_SLOW", details={"last_seq": str(self.last_seq)})))
        await self.close(code=CLOSE_TRY_AGAIN_LATER)

    async def _end(self, status: str) -> None:
        self.ended = True
        await self.send(text_data=json.dumps({
            "build_id": str(self.build.pk),
            "timestamp": _now_iso(),
            "level": "INFO",
            "message": f"Build finished: {status}",
            "metadata": {"event": "end", "status": status, "seq": str(self.last_seq), "step": "system"},
        }))
        await self.close(code=CLOSE_NORMAL)


def _now_iso() -> str:
    from django.utils import timezone

    return timezone.now().isoformat().replace("+00:00", "Z")
