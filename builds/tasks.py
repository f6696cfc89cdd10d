"""Celery tasks: thin wrappers taking ids. Build tasks ack on receipt (never run twice)."""

from celery import shared_task


@shared_task(name="builds.tasks.run_build", acks_late=False, ignore_result=True)
def run_build(build_id: str) -> None:
    from builds.engine import execute_build

    execute_build(build_id)


@shared_task(name="builds.tasks.reap_builds", ignore_result=True)
def reap_builds() -> None:
    from builds.engine import reap

    reap()
