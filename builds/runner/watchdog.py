"""The thread beside a running build: heartbeats, and stopping it on cancel (seen in the database) or timeout."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from builds.executors.base import Executor
from builds.runner import reports

logger = logging.getLogger(__name__)


class Watchdog(threading.Thread):
    def __init__(self, build_id: Any, executor: Executor, timeout_seconds: int):
        super().__init__(name=f"watchdog-{build_id}", daemon=True)
        self.build_id = build_id
        self.executor = executor
        self.deadline = time.monotonic() + timeout_seconds
        self.reason: str | None = None  # "cancelled" or "timeout"
        self._stop_event = threading.Event()

    def run(self) -> None:
        last_beat = 0.0
        try:
            while not self._stop_event.wait(settings.BUILD_CANCEL_POLL_SECONDS):
                if time.monotonic() >= self.deadline:
                    self._interrupt("timeout")
                    return
                try:
                    if time.monotonic() - last_beat >= settings.BUILD_HEARTBEAT_SECONDS:
                        still_running = reports.heartbeat(build_id=self.build_id)
                        last_beat = time.monotonic()
                    else:
                        still_running = reports.is_still_running(build_id=self.build_id)
                except Exception:  # a database blip must not end heartbeats, cancel and timeout for good
                    logger.exception("watchdog of build %s could not reach the database; retrying", self.build_id)
                    close_old_connections()
                    continue
                if not still_running:
                    self._interrupt("cancelled")
                    return
        except Exception:
            logger.exception("watchdog of build %s failed", self.build_id)
        finally:
            close_old_connections()

    def _interrupt(self, reason: str) -> None:
        self.reason = reason
        self.executor.cancel()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
