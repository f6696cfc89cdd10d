"""Celery tasks: thin wrappers taking ids. Build tasks ack on receipt (never run twice)."""

from celery import shared_task
from celery.signals import worker_ready


@worker_ready.connect
def start_reaping(**kwargs) -> None:
    """Each worker reaps: its first pass kills the build processes a crashed predecessor left."""
    from builds.dispatch import start_reaper

    start_reaper()


@shared_task(name="builds.tasks.run_build", acks_late=False, ignore_result=True)
def run_build(build_id: str) -> None:
    from builds.engine import execute_build

    execute_build(build_id)
