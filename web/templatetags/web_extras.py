"""Formatting for the web UI's templates."""

from __future__ import annotations

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def duration(build) -> str:
    """How long the build ran (so far, while it runs); "—" before it starts."""
    if build.started_at is None:
        return "—"
    seconds = int(((build.completed_at or timezone.now()) - build.started_at).total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"
