"""Following a build's log over the WebSocket, across dropped connections, each line exactly once.

Every line carries its number (`metadata.seq`, a string like all metadata values). When the
connection drops (network, a restarted server, close 1013 for a client that fell behind), the
follower reconnects with `?since=<the last seq it printed>`; the server replays from there, and
any line at or below that number is a repeat and is dropped. Control messages carry
`metadata.event`: `end` (with the final `status`) finishes; `lagged` precedes a 1013 close.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import connect as ws_connect

from imagefactory.cli.client import ApiError, Client, retryable_status

END_EVENT = "end"


class SeqDedup:
    """Remembers the highest line number delivered; anything at or below it is a repeat."""

    def __init__(self, last: int = 0):
        self.last = last

    def accept(self, seq: int | None) -> bool:
        if seq is None:  # an unnumbered line cannot be a replay: nothing to compare
            return True
        if seq <= self.last:
            return False
        self.last = seq
        return True


def message_seq(message: dict[str, Any]) -> int | None:
    raw = (message.get("metadata") or {}).get("seq")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def is_envelope(message: Any) -> bool:
    """The server's refusal frame (the REST error envelope), sent once before a 44xx close."""
    return isinstance(message, dict) and "error" in message and "code" in message and "build_id" not in message


class LogFollower:
    def __init__(
        self,
        client: Client,
        build_id: str,
        *,
        on_line: Callable[[dict[str, Any]], None],
        on_idle: Callable[[], None] = lambda: None,
        since: int = 0,
        idle_interval: float = 1.0,
        connect: Callable[..., Any] = ws_connect,
    ):
        self.client = client
        self.build_id = build_id
        self.on_line = on_line
        self.on_idle = on_idle
        self.dedup = SeqDedup(since)
        self.idle_interval = idle_interval
        self.connect = connect
        self.reconnects = 0

    def url(self) -> str:
        return f"{self.client.config.ws_url}/builds/{self.build_id}/logs/stream?since={self.dedup.last}"

    def follow(self) -> str | None:
        """Delivers every line to on_line once, until the end message; returns the build's final status."""
        backoff = self.client.backoff
        retry = 0
        relogged = False
        while True:
            self.client.check_deadline()
            received = 0
            try:
                with self.connect(
                    self.url(),
                    additional_headers=self.client.auth_headers(),
                    open_timeout=self._open_timeout(),
                    close_timeout=2,
                    max_size=None,
                ) as socket:
                    while True:
                        try:
                            raw = socket.recv(timeout=self.idle_interval)
                        except TimeoutError:
                            self.on_idle()
                            self.client.check_deadline()
                            continue
                        received += 1
                        outcome = self._handle(json.loads(raw))
                        if outcome is not None:
                            return outcome[0]
                        self.client.check_deadline()  # a chatty build must not outlive --timeout either
            except ApiError as refusal:
                if refusal.status == 401 and self.client.config.can_log_in and not relogged:
                    relogged = True  # the access token expired while following: log in again, once
                    self.client.token = None
                    continue
                raise
            except InvalidStatus as exc:
                status = exc.response.status_code
                if not retryable_status(status):
                    raise ApiError(f"log stream refused: HTTP {status}", status=status) from None
                reason = f"log stream handshake: HTTP {status}"
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                reason = f"log stream closed ({code})"
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, EOFError) as exc:
                reason = f"log stream: {type(exc).__name__}: {exc}"
            if received:
                retry = 0  # that connection worked; a new drop starts the backoff afresh
            if retry >= backoff.retries:
                raise ApiError(f"{reason}; gave up after {retry} reconnects")
            delay = backoff.delay(retry)
            retry += 1
            self.reconnects += 1
            self.client.notify(f"{reason}; resuming after line {self.dedup.last} in {delay:.1f}s")
            self.client.pause(delay)

    def _handle(self, message: Any) -> tuple[str | None] | None:
        """(final status,) at the end; None to go on."""
        if is_envelope(message):
            raise ApiError.from_envelope(message, status=_status_of(message), fallback="log stream refused")
        metadata = message.get("metadata") or {}
        event = metadata.get("event")
        if event == END_EVENT:
            return (metadata.get("status"),)
        if event:
            self.client.notify(f"log stream: {message.get('message', event)}")
            return None
        if self.dedup.accept(message_seq(message)):
            self.on_line(message)
        return None

    def _open_timeout(self) -> float:
        remaining = self.client.remaining()
        return 30.0 if remaining is None else max(0.1, min(30.0, remaining))


_STATUS_BY_CODE = {"UNAUTHORIZED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "INVALID_REQUEST": 400}


def _status_of(envelope: dict[str, Any]) -> int | None:
    return _STATUS_BY_CODE.get(str(envelope.get("code")))
