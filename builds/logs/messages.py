"""The shape of a log line, written once: the guide's LogMessage, and new entries before they are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from django.utils import timezone

from builds.models import BuildLogLine, LogLevel
from imagefactory.core.timestamps import iso_z


class Entry(TypedDict):
    """A line not stored yet; the store gives it its seq."""

    timestamp: datetime
    level: str
    message: str
    metadata: dict[str, str]


def line_metadata(line: BuildLogLine) -> dict[str, str]:
    """The line's metadata as the guide shows it: string values, `seq` included."""
    metadata = {str(k): str(v) for k, v in (line.metadata or {}).items()}
    metadata["seq"] = str(line.seq)
    return metadata


def line_message(line: BuildLogLine) -> dict[str, Any]:
    """The guide's LogMessage for one stored line (the stream sends exactly this)."""
    return {
        "build_id": str(line.build_id),
        "timestamp": iso_z(line.timestamp),
        "level": line.level,
        "message": line.message,
        "metadata": line_metadata(line),
    }


def numbered_message(build_id: Any, seq: int, entry: Entry) -> dict[str, Any]:
    """The same LogMessage for a line numbered `seq` before it is stored (no model instance: this
    runs for every line on the live path)."""
    metadata = {str(k): str(v) for k, v in entry["metadata"].items()}
    metadata["seq"] = str(seq)
    return {
        "build_id": str(build_id),
        "timestamp": iso_z(entry["timestamp"]),
        "level": entry["level"],
        "message": entry["message"],
        "metadata": metadata,
    }


def system_entry(message: str, *, level: str = LogLevel.INFO, step: str = "system") -> Entry:
    """A line the platform writes itself (not a tool's output)."""
    return {
        "timestamp": timezone.now(),
        "level": level,
        "message": message,
        "metadata": {"step": step, "step_name": step, "container": "builder"},
    }
