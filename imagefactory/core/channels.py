"""Sending to channel-layer groups from synchronous code (workers, services, signals).

Two senders use it: the build log publisher (builds/logs/publish.py) and the access events below,
which tell open log streams to check their client's access again right away.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

ACCESS_CHANGED_EVENT = "access.changed"

_loop_lock = threading.Lock()
_server_loop: asyncio.AbstractEventLoop | None = None


def register_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remembers the server's event loop (called by consumers) for the in-memory layer.

    The in-memory layer's queues belong to that loop; publishing from a worker thread must
    run there, not on a private loop the server would never wake up for.
    """
    global _server_loop
    with _loop_lock:
        _server_loop = loop


def send_to_group(group: str, message: dict[str, Any]) -> None:
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


def access_group(user_id: Any) -> str:
    """The group every open stream of a user listens on for access changes."""
    return f"access.user.{user_id}"


def notify_access_changed(user_id: Any) -> None:
    """Streams of this user re-check their access now (membership, role, revocation). Best effort:
    the streams also re-check on their own every STREAM_ACCESS_CHECK_SECONDS."""
    try:
        send_to_group(access_group(user_id), {"type": ACCESS_CHANGED_EVENT})
    except Exception:
        logger.warning("could not notify the streams of user %s of an access change", user_id, exc_info=True)
