"""A tiny ASGI app for the back-pressure contract test: it reports what the log stream's transport
probe (builds/stream/transport.py) sees under a real daphne. Served with
``daphne testing.daphne_probe:application``; needs no Django."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from builds.stream.transport import DaphneSendBuffer

FRAME = b"x" * 65536
FRAMES = 64  # 4 MiB, far more than the kernel buffers of a client that does not read


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    probe = DaphneSendBuffer(send)
    probe.bound_kernel_buffer(65536)
    await receive()  # the client says when it stopped reading
    for _ in range(FRAMES):
        await send({"type": "websocket.send", "bytes": FRAME})
    await asyncio.sleep(0.5)  # let Twisted write what the socket takes
    report = {"supported": probe.supported, "backlog_bytes": probe.backlog_bytes(), "sent_bytes": len(FRAME) * FRAMES}
    await send({"type": "websocket.send", "text": json.dumps(report)})
    if not probe.close_try_again_later(5):
        await send({"type": "websocket.close", "code": 1011})
    while (await receive())["type"] != "websocket.disconnect":
        pass
