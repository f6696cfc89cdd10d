"""What daphne does not tell an ASGI application: how much of a WebSocket's output still waits.

Used by the log stream (builds/consumers.py) to throttle, and close with 1013, a client that
reads more slowly than its build writes.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013


class DaphneSocket:
    """The Twisted transport behind daphne's ASGI send: how many bytes still wait to be written.

    daphne's send is ``functools.partial(server.handle_reply, protocol)``; anything else (e.g.
    Channels' WebsocketCommunicator) has no transport and reports an empty buffer.
    """

    def __init__(self, send: Any):
        protocol = next(iter(getattr(send, "args", ())), None)
        transport = getattr(protocol, "transport", None)
        usable = all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen"))
        self.protocol = protocol if usable else None
        self.transport = transport if usable else None

    def backlog_bytes(self) -> int:
        t = self.transport
        if t is None:
            return 0
        return len(t.dataBuffer) - t.offset + t._tempDataLen

    def bound_kernel_buffer(self, size: int) -> None:
        """Keeps the kernel's send buffer small, so that the backlog is visible to us, not hidden there."""
        if self.transport is not None and size > 0:
            try:
                self.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            except (AttributeError, OSError):
                logger.debug("could not bound SO_SNDBUF", exc_info=True)

    def close_try_again_later(self, grace_seconds: float) -> bool:
        """Sends close 1013; False when not under daphne (the caller closes through ASGI then).

        daphne's ASGI close goes through autobahn's sendClose, which only allows 1000 and
        3000-4999; sendCloseFrame (what daphne itself uses for 1011) sends any code. autobahn
        drops a peer that does not answer a close within 1 s; a slow reader first has to read
        its backlog, so it gets grace_seconds.
        """
        if self.protocol is None or not hasattr(self.protocol, "sendCloseFrame"):
            return False
        self.protocol.closeHandshakeTimeout = grace_seconds
        self.protocol.sendCloseFrame(code=CLOSE_TRY_AGAIN_LATER)
        return True
