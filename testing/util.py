"""Small helpers of the harness: free ports, waiting for a condition, unique tokens."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def unique_token() -> str:
    """Goes into RUN commands so the shared layer cache never answers for this test."""
    return uuid.uuid4().hex[:12]
