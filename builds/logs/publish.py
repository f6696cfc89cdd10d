"""Publishing a build's log to its channel-layer group: lines as they are stored, then the end.

The only module that sends to a build's group. The stream consumers (builds/stream) listen there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from builds.logs.messages import line_message
from builds.models import BuildLogLine

logger = logging.getLogger(__name__)

LINES_EVENT = "log.lines"
FINISHED_EVENT = "build.finished"

_loop_lock = threading.Lock()
_server_loop: asyncio.AbstractEventLoop | None = None


def group_name(build_id: Any) -> str:
    return f"build.{build_id}"


def register_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remembers the server's event loop (called by consumers) for the in-memory layer.

    The in-memory layer's queues belong to that loop; publishing from a worker thread must
    run there, not on a private loop the server would never wake up for.
    """
    global _server_loop
    with _loop_lock:
        _server_loop = loop


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop
    if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=10)
            return
    async_to_sync(layer.group_send)(group, message)


def publish_lines(build_id: Any, lines: Sequence[BuildLogLine]) -> None:
    """Stored lines, after their commit."""
    publish_messages(build_id, [line_message(line) for line in lines])


def publish_messages(build_id: Any, messages: list[dict[str, Any]]) -> None:
    """LogMessages (numbered, not necessarily stored yet) to the build's stream clients."""
    if not messages:
        return
    try:
        _send(group_name(build_id), {"type": LINES_EVENT, "lines": messages})
    except Exception:
        logger.warning("could not publish %d log lines of build %s", len(messages), build_id, exc_info=True)


def publish_finished(build_id: Any, status: str) -> None:
    """Announces the end; called by builds.logs.store.close_log only, after the last line."""
    try:
        _send(group_name(build_id), {"type": FINISHED_EVENT, "status": status})
    except Exception:
        logger.warning("could not publish the end of build %s", build_id, exc_info=True)
