"""Publishing a build's log to its channel-layer group: lines as they are stored, then the end.

The only module that sends to a build's group. The stream consumers (builds/stream) listen there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from builds.logs.messages import line_message
from builds.models import BuildLogLine
from imagefactory.core.channels import send_to_group

logger = logging.getLogger(__name__)

LINES_EVENT = "log.lines"
FINISHED_EVENT = "build.finished"


def group_name(build_id: Any) -> str:
    return f"build.{build_id}"


def publish_lines(build_id: Any, lines: Sequence[BuildLogLine]) -> None:
    """Stored lines, after their commit."""
    publish_messages(build_id, [line_message(line) for line in lines])


def publish_messages(build_id: Any, messages: list[dict[str, Any]]) -> None:
    """LogMessages (numbered, not necessarily stored yet) to the build's stream clients."""
    if not messages:
        return
    try:
        send_to_group(group_name(build_id), {"type": LINES_EVENT, "lines": messages})
    except Exception:
        logger.warning("could not publish %d log lines of build %s", len(messages), build_id, exc_info=True)


def publish_finished(build_id: Any, status: str) -> None:
    """Announces the end; called by builds.logs.store.close_log only, after the last line."""
    try:
        send_to_group(group_name(build_id), {"type": FINISHED_EVENT, "status": status})
    except Exception:
        logger.warning("could not publish the end of build %s", build_id, exc_info=True)
