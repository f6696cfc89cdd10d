"""The builds app's background jobs by name: the API side queues them, the runner defines and runs them."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from imagefactory.core import jobs

RUN_BUILD = "builds.run_build"


def queue_build(build_id: Any) -> None:
    """Asks a worker to run the build (it waits there for a free slot of its tenant).

    Call through ``transaction.on_commit``: the worker must see the started build.
    """
    jobs.enqueue(RUN_BUILD, str(build_id), queue=settings.BUILD_QUEUE)
