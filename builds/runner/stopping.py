"""A worker that is told to stop ends the builds it runs before it exits, their processes with them.

A deploy stops a worker with SIGTERM, to the whole process group (systemd's default): Celery's pool
processes would die at once, and with them the threads that stop a cancelled build's tree or remove
its cgroup, leaving its RUN step running after the worker is gone. So in a pool process SIGTERM
stops every build it holds instead (their trees and cgroups go, each build ends failed/
platform_error, to be retried), it claims no more, and Celery's warm shutdown then ends it. The
embedded server stops them the same way when its process exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from builds.executors.base import Executor

logger = logging.getLogger(__name__)

_stopping = threading.Event()
_lock = threading.Lock()
_held: dict[Any, Executor] = {}
_at_exit_installed = False


def is_stopping() -> bool:
    """True once this process was told to stop: it takes no more builds."""
    return _stopping.is_set()


@contextmanager
def holding(build_id: Any, executor: Executor) -> Iterator[None]:
    """While inside, a stop of this process stops the build's executor too."""
    with _lock:
        _held[build_id] = executor
    try:
        if is_stopping():  # told to stop just before this build got here
            executor.cancel()
        yield
    finally:
        with _lock:
            _held.pop(build_id, None)


def stop_builds() -> None:
    """Stops every build this process runs (their process trees, now) and lets it claim no more."""
    _stopping.set()
    with _lock:
        executors = list(_held.items())
    if executors:
        logger.warning("worker stopping: stopping its %d running builds", len(executors))
    stoppers = [threading.Thread(target=executor.cancel, name=f"stop-{build_id}") for build_id, executor in executors]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(timeout=60)


def stop_builds_on_sigterm() -> None:
    """In a Celery pool process: SIGTERM stops its builds (and ends it through the warm shutdown)."""

    def on_sigterm(signum: int, frame: object) -> None:
        # Not in the handler itself: stopping a tree waits for its grace period.
        threading.Thread(target=stop_builds, name="stop-builds", daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)


def stop_builds_at_exit() -> None:
    """In the embedded server: its exit stops the builds before the pool's threads are joined.

    threading's own exit hooks run before non-daemon threads are joined, last registered first:
    this one, registered after the pool's (concurrent.futures registers at import), runs before it.
    """
    global _at_exit_installed
    with _lock:
        if _at_exit_installed:
            return
        _at_exit_installed = True
    threading._register_atexit(stop_builds)  # type: ignore[attr-defined]
