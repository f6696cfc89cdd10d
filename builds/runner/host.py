"""What a worker checks about its host before it takes builds: the sandbox, and the limits it can enforce."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from builds.executors.base import Executor

logger = logging.getLogger(__name__)


def check_build_host() -> None:
    """Logs the host's warnings; raises ImproperlyConfigured when it cannot run builds as configured."""
    executor_class: type[Executor] = import_string(settings.BUILD_EXECUTOR)
    report = executor_class.check_host(settings)
    for warning in report.warnings:
        logger.warning("%s", warning)
    if report.problems:
        raise ImproperlyConfigured("this host cannot run builds:\n  - " + "\n  - ".join(report.problems))
