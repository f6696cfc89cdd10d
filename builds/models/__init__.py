"""The builds app's models: projects, builds, their counts, log lines, idempotency records."""

from builds.models.builds import Build, BuildStatus, FailureKind
from builds.models.counts import BuildCount
from builds.models.idempotency import IdempotencyRecord
from builds.models.logs import BuildLogLine, LogLevel
from builds.models.projects import Project

__all__ = [
    "Build",
    "BuildCount",
    "BuildLogLine",
    "BuildStatus",
    "FailureKind",
    "IdempotencyRecord",
    "LogLevel",
    "Project",
]
