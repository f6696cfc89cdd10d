"""The build state machine: the phases a build goes through, the allowed moves, and `transition()`,
the one writer of ``Build.status``.

The API shows five statuses. The worker side needs one more distinction, so the machine runs on
phases: ``in_progress`` is either WAITING (started, waiting for a free build slot of its tenant)
or RUNNING (a worker holds a slot and runs it)::

    QUEUED ──start──▶ WAITING ──slot──▶ RUNNING ──▶ SUCCESS | FAILED | CANCELLED
       │                 │
       └──cancel──▶ CANCELLED ◀──cancel──┘

Every move is one conditional UPDATE (``… WHERE id = %s AND <phase is one of the sources>``), so
of two racing moves exactly one wins (Quay's compare-and-swap).
"""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from builds import signals
from builds.models import Build, BuildStatus


class Phase(enum.Enum):
    QUEUED = "queued"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def status(self) -> BuildStatus:
        """The status the API shows for this phase."""
        return STATUS_OF[self]

    @property
    def condition(self) -> Q:
        """The rows in this phase."""
        if self is Phase.WAITING:
            return Q(status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=True)
        if self is Phase.RUNNING:
            return Q(status=BuildStatus.IN_PROGRESS, slot_acquired_at__isnull=False)
        return Q(status=self.status)


STATUS_OF: dict[Phase, BuildStatus] = {
    Phase.QUEUED: BuildStatus.QUEUED,
    Phase.WAITING: BuildStatus.IN_PROGRESS,
    Phase.RUNNING: BuildStatus.IN_PROGRESS,
    Phase.SUCCESS: BuildStatus.SUCCESS,
    Phase.FAILED: BuildStatus.FAILED,
    Phase.CANCELLED: BuildStatus.CANCELLED,
}

# The event a won move announces (builds.signals): the API's status changed. WAITING -> RUNNING
# leaves it `in_progress`, so it announces nothing.
EVENT_OF: dict[Phase, str] = {
    Phase.WAITING: signals.BUILD_STARTED,
    Phase.SUCCESS: signals.BUILD_SUCCEEDED,
    Phase.FAILED: signals.BUILD_FAILED,
    Phase.CANCELLED: signals.BUILD_CANCELLED,
}

TERMINAL_PHASES = frozenset({Phase.SUCCESS, Phase.FAILED, Phase.CANCELLED})
TERMINAL_STATES = frozenset(phase.status for phase in TERMINAL_PHASES)

# The only legal moves: from -> to.
MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.QUEUED: frozenset({Phase.WAITING, Phase.CANCELLED}),
    Phase.WAITING: frozenset({Phase.RUNNING, Phase.CANCELLED}),
    Phase.RUNNING: frozenset({Phase.SUCCESS, Phase.FAILED, Phase.CANCELLED}),
    Phase.SUCCESS: frozenset(),
    Phase.FAILED: frozenset(),
    Phase.CANCELLED: frozenset(),
}

# What the API offers, by the phases it is offered from. Retry makes a new build and delete removes
# the row: neither moves this build, but both are allowed from these phases only.
START_FROM = frozenset({Phase.QUEUED})
CANCEL_FROM = frozenset({Phase.QUEUED, Phase.WAITING, Phase.RUNNING})
RETRY_FROM = frozenset({Phase.FAILED, Phase.CANCELLED})
DELETE_FROM = frozenset({Phase.QUEUED, *TERMINAL_PHASES})


def phase_of(status: str, slot_acquired_at: datetime | None) -> Phase:
    if status == BuildStatus.IN_PROGRESS:
        return Phase.WAITING if slot_acquired_at is None else Phase.RUNNING
    return Phase(status)


def statuses(phases: Iterable[Phase]) -> list[str]:
    """The API statuses of `phases`, sorted (for messages such as "allowed from: ...")."""
    return sorted({str(phase.status) for phase in phases})


def in_phases(phases: Iterable[Phase]) -> Q:
    """The rows in any of `phases`."""
    return functools.reduce(operator.or_, (phase.condition for phase in phases), Q(pk__in=[]))


def worker_writes_the_end(status: str, slot_acquired_at: datetime | None) -> bool:
    """True for a build cancelled while a worker ran it: that worker writes its last lines and
    announces the end (after the cancel is stored). For every other end, whoever moved the build
    to its final phase did."""
    return status == BuildStatus.CANCELLED and slot_acquired_at is not None


def transition(
    build_id: Any, *, to: Phase, sources: Iterable[Phase] | None = None, where: Q | None = None, **changes: Any
) -> bool:
    """Moves the build to `to` if it is in one of `sources` (default: every phase `to` may follow)
    and matches `where`; sets `changes` in the same UPDATE. True when this call made the move.

    The winner announces the move (builds.signals.build_changed) in the same transaction."""
    allowed = frozenset(phase for phase, targets in MOVES.items() if to in targets)
    sources = allowed if sources is None else frozenset(sources)
    illegal = sources - allowed
    if illegal:
        raise ValueError(f"illegal move to {to.name} from {sorted(p.name for p in illegal)}")
    now = timezone.now()
    changes.update(status=to.status, updated_at=now)
    if to is Phase.RUNNING:
        changes.setdefault("slot_acquired_at", now)
    rows = Build.objects.filter(in_phases(sources), pk=build_id)
    if where is not None:
        rows = rows.filter(where)
    with transaction.atomic():
        won = bool(rows.update(**changes))
        if won and to in EVENT_OF:
            signals.build_changed.send(sender=Build, build_id=build_id, event=EVENT_OF[to])
    return won
