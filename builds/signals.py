"""Signals other apps listen to: a build was created or moved. builds never imports its listeners.

``build_changed`` is sent inside the transaction that made the change, right after it, only by the
call that won the move (states.transition) or made the row (services.create_build): a listener that
writes rows of its own (webhooks records its deliveries) commits or rolls back with the change. Its
listeners must be quick, must not do I/O beyond the database, and must not raise.

Arguments: ``build_id`` (UUID) and ``event``, one of EVENTS.
"""

from __future__ import annotations

from django.dispatch import Signal

BUILD_CREATED = "build.created"
BUILD_STARTED = "build.started"
BUILD_SUCCEEDED = "build.succeeded"
BUILD_FAILED = "build.failed"
BUILD_CANCELLED = "build.cancelled"
EVENTS = (BUILD_CREATED, BUILD_STARTED, BUILD_SUCCEEDED, BUILD_FAILED, BUILD_CANCELLED)

build_changed = Signal()
