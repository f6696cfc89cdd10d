"""Publishing build events (log lines, end of build) to the build's channel-layer group."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.utils import timezone

from imagefactory.core.timestamps import iso_z

logger = logging.getLogger(__name__)

_loop_lock = threading.Lock()
_server_loop: asyncio.AbstractEventLoop | None = None


def group_name(build_id) -> str:
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


def line_payload(line) -> dict[str, Any]:
    """The guide's LogMessage for one stored line; metadata values are strings, seq included."""
    metadata = {str(k): str(v) for k, v in (line.metadata or {}).items()}
    metadata["seq"] = str(line.seq)
    return {
        "build_id": str(line.build_id),
        "timestamp": iso_z(line.timestamp),
        "level": line.level,
        "message": line.message,
        "metadata": metadata,
    }


def publish_lines(build_id, lines: list) -> None:
    if not lines:
        return
    try:
        _send(group_name(build_id), {"type": "log.lines", "lines": [line_payload(line) for line in lines]})
    except Exception:
        logger.warning("could not publish %d log lines of build %s", len(lines), build_id, exc_info=True)


def publish_finished(build) -> None:
    try:
        _send(group_name(build.pk), {"type": "build.finished", "status": build.status})
    except Exception:
        logger.warning("could not publish the end of build %s", build.pk, exc_info=True)


def system_line(message: str, *, level: str = "INFO", step: str = "system") -> dict[str, Any]:
    return {"timestamp": timezone.now(), "level": level, "message": message,
            "metadata": {"step": step, "step_name": step, "container": "builder"}}
