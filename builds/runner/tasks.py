"""Celery tasks: thin wrappers taking ids. Build tasks ack on receipt (a build never runs twice).

In the embedded default the same functions run in the server's thread pool (imagefactory/core/jobs.py).
"""

from celery import shared_task
from celery.signals import worker_ready

from builds import jobs
from builds.runner import engine, janitor


@worker_ready.connect
def start_janitor(**kwargs: object) -> None:
    """Each worker sweeps: its first pass kills the build processes a crashed predecessor left."""
    janitor.start()


@shared_task(name=jobs.RUN_BUILD, acks_late=False, ignore_result=True)
def run_build(build_id: str) -> None:
    janitor.start()  # whatever process runs builds also cleans up after them (idempotent)
    engine.execute_build(build_id)
