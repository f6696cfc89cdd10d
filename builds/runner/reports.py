"""What a running build reports back to its row: heartbeats, progress, the commit, and how it ended."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from builds.models import Build
from builds.states import TERMINAL_PHASES, Phase, transition


def heartbeat(*, build_id: Any) -> bool:
    """Stamps the heartbeat; False when the build is no longer running (cancelled, reaped)."""
    return bool(Build.objects.filter(Phase.RUNNING.condition, pk=build_id).update(heartbeat_at=timezone.now()))


def is_still_running(*, build_id: Any) -> bool:
    return Build.objects.filter(Phase.RUNNING.condition, pk=build_id).exists()


def record_progress(*, build_id: Any, current_step: int, total_steps: int | None, step_name: str) -> None:
    changes: dict[str, Any] = {"current_step": current_step, "step_name": step_name[:500], "updated_at": timezone.now()}
    if total_steps is not None:
        changes["total_steps"] = total_steps
    Build.objects.filter(Phase.RUNNING.condition, pk=build_id).update(**changes)


def record_source_commit(*, build_id: Any, commit: str) -> None:
    Build.objects.filter(pk=build_id).update(source_commit=commit)


def finish(
    *,
    build_id: Any,
    outcome: Phase,
    error_message: str | None = None,
    failure_kind: str | None = None,
    image_reference: str | None = None,
    image_digest: str | None = None,
) -> bool:
    """RUNNING → outcome. False when someone else (a cancel, the janitor) ended it first."""
    if outcome not in TERMINAL_PHASES:
        raise ValueError(f"{outcome} is not an end")
    changes: dict[str, Any] = {
        "completed_at": timezone.now(),
        "error_message": error_message,
        "failure_kind": failure_kind,
    }
    if image_reference is not None:
        changes.update(image_reference=image_reference, image_digest=image_digest)
    return transition(build_id, to=outcome, sources=[Phase.RUNNING], **changes)
