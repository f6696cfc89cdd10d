"""What daphne does not tell an ASGI application: how much of a WebSocket's output still waits.

The log stream (builds/stream/consumer.py) throttles, and closes with 1013, a client that reads
more slowly than its build writes. ASGI has no back-pressure for WebSocket sends, so this reads
the Twisted transport behind daphne's ``send`` — private attributes of daphne (``send.args[0]``),
of autobahn (``sendCloseFrame``, ``closeHandshakeTimeout``) and of Twisted's FileDescriptor
(``dataBuffer``, ``offset``, ``_tempDataLen``). Verified with the versions pinned in
requirements.txt; builds/tests/test_stream_transport.py runs a real daphne and fails loudly if
any of them changes. Elsewhere (another server, Channels' test communicator) nothing is
throttled and nobody is closed for lagging.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013
VERIFIED_WITH = {"daphne": "4.2.3", "Twisted": "26.10.0", "autobahn": "26.11.1"}
_TRANSPORT_ATTRIBUTES = ("dataBuffer", "offset", "_tempDataLen")


class SendBuffer(Protocol):
    """The stream's view of its client's connection."""

    supported: bool

    def backlog_bytes(self) -> int:
        """Bytes handed to the server that the client has not taken yet."""

    def bound_kernel_buffer(self, size: int) -> None:
        """Keep the kernel's send buffer small, so that the backlog stays visible to backlog_bytes."""

    def close_try_again_later(self, grace_seconds: float) -> bool:
        """Close with 1013 (not allowed through ASGI); False when the caller must close through ASGI."""


class DaphneSendBuffer:
    """The Twisted transport behind daphne's ASGI send (``functools.partial(server.handle_reply, protocol)``)."""

    def __init__(self, send: Any):
        protocol = next(iter(getattr(send, "args", ())), None)
        transport = getattr(protocol, "transport", None)
        self.supported = all(hasattr(transport, name) for name in _TRANSPORT_ATTRIBUTES) and hasattr(
            protocol, "sendCloseFrame"
        )
        self.protocol = protocol if self.supported else None
        self.transport = transport if self.supported else None

    def backlog_bytes(self) -> int:
        t = self.transport
        if t is None:
            return 0
        return len(t.dataBuffer) - t.offset + t._tempDataLen

    def bound_kernel_buffer(self, size: int) -> None:
        if self.transport is not None and size > 0:
            try:
                self.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            except (AttributeError, OSError):
                logger.debug("could not bound SO_SNDBUF", exc_info=True)

    def close_try_again_later(self, grace_seconds: float) -> bool:
        """daphne's ASGI close goes through autobahn's sendClose, which only allows 1000 and
        3000-4999; sendCloseFrame (what daphne itself uses for 1011) sends any code. autobahn
        drops a peer that does not answer a close within 1 s; a slow reader first has to read
        its backlog, so it gets grace_seconds."""
        if self.protocol is None:
            return False
        self.protocol.closeHandshakeTimeout = grace_seconds
        self.protocol.sendCloseFrame(code=CLOSE_TRY_AGAIN_LATER)
        return True
