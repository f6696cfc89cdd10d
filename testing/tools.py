"""Skipping for a missing tool or service, without pytest: benchmarks use the harness too.

``unittest.SkipTest`` is a skip to pytest wherever it is raised (test or fixture); the root
conftest turns every skip into a failure under IMAGEFACTORY_REQUIRE_SERVICES.
"""

from __future__ import annotations

import unittest

from django.conf import settings


class MissingTool(unittest.SkipTest):
    """A binary or service the test needs is not there."""


def need(condition: bool, reason: str) -> None:
    """Skip when a tool or service is missing (a failure under IMAGEFACTORY_REQUIRE_SERVICES=1)."""
    if not condition:
        raise MissingTool(reason)


POSTGRES_ONLY = "needs PostgreSQL (row locks and real concurrency); SQLite serialises writers"


def need_postgres() -> None:
    """Skip on SQLite; allowed in CI's embedded run, a failure in its services run."""
    need(not settings.USES_SQLITE, POSTGRES_ONLY)


SERVICES_ONLY = "needs services mode (Redis channel layer, Celery worker); embedded mode has no Redis"


def need_services() -> None:
    """Skip in embedded mode; allowed in CI's embedded run, a failure in its services run."""
    need(settings.SERVICES_MODE, SERVICES_ONLY)
