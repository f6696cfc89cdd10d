"""Timestamps as the guide writes them: ISO 8601 in UTC with a trailing Z."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def iso_z(moment: datetime | None = None) -> str:
    """`moment` (default: now) as e.g. 2024-01-15T10:30:00.123456Z."""
    return (moment or timezone.now()).isoformat().replace("+00:00", "Z")
