"""Background jobs by task name: Celery in services mode, a thread pool inside the server when embedded.

The caller names a Celery task (``@shared_task(name=...)``) and passes JSON-able arguments; it never
imports the task, so whoever queues work does not depend on whoever does it. Queue from inside a
transaction with ``transaction.on_commit``, so a worker never sees a row that is not committed yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def enqueue(task_name: str, *args: Any, queue: str, countdown: float | None = None) -> None:
    """Runs the task `task_name` with `args` on a worker listening on `queue`, `countdown` seconds from now.

    A delayed job lives in memory until it runs (the worker's, or this process's timer): whoever
    needs it to survive a restart keeps its own record and a sweep that queues it again.
    """
    if settings.SERVICES_MODE:
        current_app.send_task(task_name, args=list(args), queue=queue, countdown=countdown)
    elif countdown:
        timer = threading.Timer(countdown, _submit, args=(task_name, args, queue))
        timer.daemon = True
        timer.start()
    else:
        _submit(task_name, args, queue)


def _submit(task_name: str, args: tuple[Any, ...], queue: str) -> None:
    _pool(queue).submit(_run_here, task_name, args)


def _run_here(task_name: str, args: tuple[Any, ...]) -> None:
    close_old_connections()
    try:
        current_app.tasks[task_name].run(*args)
    except Exception:
        logger.exception("embedded job %s%r failed", task_name, args)
    finally:
        close_old_connections()


def _pool(queue: str) -> ThreadPoolExecutor:
    """One pool per queue, so that e.g. long builds never hold up other kinds of jobs."""
    with _lock:
        pool = _pools.get(queue)
        if pool is None:
            size = settings.EMBEDDED_QUEUE_WORKERS.get(queue, 1)
            pool = _pools[queue] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"{queue}-worker")
        return pool


class Periodic:
    """A pass run every `interval()` seconds on a daemon thread of this process, started once.

    For the safety nets every worker process (and the embedded server) runs beside its jobs: a
    timer, not a queued task, so that it is never stuck behind them. A failed pass is logged and
    the next one comes on time; each pass ends with its database connection closed.
    """

    def __init__(self, name: str, run: Callable[[], object], *, interval: Callable[[], float], at_start: bool = False):
        self.name, self.run, self.interval, self.at_start = name, run, interval, at_start
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._forever, name=self.name, daemon=True)
                self._thread.start()

    def _forever(self) -> None:
        delay = 0.0 if self.at_start else self.interval()
        while True:
            time.sleep(delay)
            delay = self.interval()
            try:
                self.run()
            except Exception:
                logger.exception("%s: pass failed", self.name)
            finally:
                close_old_connections()
