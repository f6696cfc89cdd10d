"""Listens to builds.signals.build_changed and records one delivery per matching subscription."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from webhooks import services

logger = logging.getLogger(__name__)


def record_build_event(sender: Any, *, build_id: Any, event: str, **kwargs: Any) -> None:
    """In the build's own transaction, in a savepoint: a problem here never undoes the build's move."""
    try:
        with transaction.atomic():
            services.record_event(build_id=build_id, event=event)
    except Exception:
        logger.exception("could not record webhook deliveries of %s for build %s", event, build_id)
