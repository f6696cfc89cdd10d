"""The builds app's background jobs by name: the API side queues them, the runner defines and runs them."""

from __future__ import annotations

from django.conf import settings

from imagefactory.core import jobs

RUN_NEXT_BUILDS = "builds.run_next_builds"


def wake_a_worker() -> None:
    """Asks a free worker to run the builds that are next in line (builds/runner/scheduler.py).

    Call through ``transaction.on_commit``: the worker must see the started build.
    """
    jobs.enqueue(RUN_NEXT_BUILDS, queue=settings.BUILD_QUEUE)
