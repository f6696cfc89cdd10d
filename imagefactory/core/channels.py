"""Sending to channel-layer groups from synchronous code (workers, services, signals).

Two senders use it: the build log publisher (builds/logs/publish.py) and the access events below,
which tell open log streams to check their client's access again right away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

ACCESS_CHANGED_EVENT = "access.changed"

SEND_TIMEOUT_SECONDS = 10

_loop_lock = threading.Lock()
_server_loop: asyncio.AbstractEventLoop | None = None
_sender: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop): a forked child starts its own


def register_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remembers the server's event loop (called by consumers) for the in-memory layer.

    The in-memory layer's queues belong to that loop; publishing from a worker thread must
    run there, not on a private loop the server would never wake up for.
    """
    global _server_loop
    with _loop_lock:
        _server_loop = loop


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for sends from synchronous code, started on first use.

    channels-redis keeps its connections per event loop; async_to_sync runs every call on a new
    loop, so each send used to open (and close) a Redis connection of its own. One long-lived loop
    keeps one connection warm.
    """
    global _sender
    with _loop_lock:
        if _sender is None or _sender[0] != os.getpid() or _sender[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def send_to_group(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer's queues belong to the server's loop: send there.
        loop = _server_loop
        if loop is None or not loop.is_running() or running is loop:
            async_to_sync(layer.group_send)(group, message)
            return
    elif running is None:
        loop = _sender_loop()
    else:  # called from a thread that runs a loop of its own: async_to_sync knows what to do
        async_to_sync(layer.group_send)(group, message)
        return
    asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=SEND_TIMEOUT_SECONDS)


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
