"""Celery tasks: thin wrappers taking ids. Build tasks ack on receipt (never run twice)."""

from celery import shared_task
from celery.signals import worker_ready


@worker_ready.connect
def clean_up_after_a_dead_predecessor(**kwargs) -> None:
    """A worker restarted after a crash first kills the build processes its predecessor left."""
    from builds.executors.process import kill_orphaned_processes

    kill_orphaned_processes()


@shared_task(name="builds.tasks.run_build", acks_late=False, ignore_result=True)
def run_build(build_id: str) -> None:
    from builds.engine import execute_build

    execute_build(build_id)


@shared_task(name="builds.tasks.reap_builds", ignore_result=True)
def reap_builds() -> None:
    from builds.engine import reap

    reap()
