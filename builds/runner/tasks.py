"""Celery tasks: thin wrappers taking ids. Build tasks ack on receipt (a build never runs twice).

In the embedded default the same functions run in the server's thread pool (imagefactory/core/jobs.py).
"""

import logging
import threading

from celery import shared_task
from celery.signals import worker_init, worker_ready
from django.core.exceptions import ImproperlyConfigured

from builds import jobs
from builds.runner import engine, janitor, stopping
from builds.runner.host import check_build_host

logger = logging.getLogger(__name__)


@worker_init.connect
def refuse_an_unfit_host(**kwargs: object) -> None:
    """A worker whose host cannot sandbox builds stops here, before it takes one."""
    try:
        check_build_host()
    except ImproperlyConfigured as problem:
        logger.critical("%s", problem)
        raise SystemExit(1) from problem  # Celery swallows exceptions of signal handlers, not this


@worker_ready.connect
def start_janitor(**kwargs: object) -> None:
    """Each worker sweeps: its first pass kills the build processes a crashed predecessor left."""
    janitor.start()


@shared_task(name=jobs.RUN_NEXT_BUILDS, acks_late=False, ignore_result=True)
def run_next_builds() -> None:
    janitor.start()  # whatever process runs builds also cleans up after them (idempotent)
    # A process told to stop ends its builds' processes before it exits (runner/stopping.py): a
    # Celery pool process runs its tasks in its main thread (set here: Celery resets SIGTERM in its
    # pool processes after worker_process_init), the embedded server in a pool of threads.
    if threading.current_thread() is threading.main_thread():
        stopping.stop_builds_on_sigterm()
    else:
        stopping.stop_builds_at_exit()
    engine.run_next_builds()
