"""Handing builds to workers: Celery in services mode, an in-process pool when embedded."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_reaper: threading.Thread | None = None


def dispatch_build(build_id) -> None:
    """Queues the build for execution. Callers queue it with transaction.on_commit."""
    if settings.SERVICES_MODE:
        from builds.tasks import run_build

        run_build.apply_async(args=[str(build_id)], queue=settings.BUILD_QUEUE)
    else:
        _embedded_pool().submit(_run_embedded, str(build_id))


def _run_embedded(build_id: str) -> None:
    from builds.engine import execute_build

    close_old_connections()
    try:
        execute_build(build_id)
    except Exception:
        logger.exception("embedded build %s crashed", build_id)
    finally:
        close_old_connections()


def _embedded_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.BUILD_WORKERS, thread_name_prefix="build-worker")
    start_reaper()
    return _pool


def start_reaper() -> None:
    """Starts this process's reaper timer once: the server's in embedded mode, each worker's otherwise.

    A timer in every worker process, not a task on the build queue: it is never stuck behind
    running builds, and it kills the orphans of a dead worker on its own host.
    """
    global _reaper
    with _lock:
        if _reaper is not None:
            return
        _reaper = threading.Thread(target=_reap_forever, name="build-reaper", daemon=True)
        _reaper.start()


def _reap_forever() -> None:
    from builds.engine import reap

    stop = threading.Event()
    interval = 0.0  # a first pass at start-up: a restarted server cleans up after its predecessor
    while not stop.wait(interval):
        interval = settings.BUILD_REAPER_INTERVAL_SECONDS
        try:
            reap()
        except Exception:
            logger.exception("reaper pass failed")
        finally:
            close_old_connections()
