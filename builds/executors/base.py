"""The executor interface: what any builder (buildah, Docker, Kubernetes) must provide.

Executors import nothing of Django or of the rest of the app (import-linter holds it): what they
need comes in a BuildSpec, and their configuration from `from_settings`.
"""

from __future__ import annotations

import abc
import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit


@dataclass(frozen=True)
class BuildSpec:
    """Everything an executor needs, copied out of the database before the build runs."""

    build_id: str
    build_number: int
    tenant_id: str
    repository_url: str
    git_branch: str
    git_commit: str | None
    default_branch: str
    dockerfile_path: str
    build_context: str
    build_args: dict[str, str] = field(default_factory=dict)
    image_repository: str = ""
    registry_username: str = field(default="", repr=False)
    registry_password: str = field(default="", repr=False)
    git_username: str = field(default="", repr=False)
    git_password: str = field(default="", repr=False)
    git_ssh_private_key: str = field(default="", repr=False)
    # Build secrets (name -> value) a Dockerfile reads with RUN --mount=type=secret,id=NAME.
    build_secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def sensitive_values(self) -> list[str]:
        """Values to mask in logs, including the encoded forms tools print them in."""
        plain = [s for s in (self.registry_password, self.git_password, self.git_ssh_private_key) if s]
        plain += [value for value in self.build_secrets.values() if value]
        url_password = urlsplit(self.repository_url).password if "://" in self.repository_url else None
        if url_password:
            plain += [url_password, unquote(url_password)]
        encoded = [quote(s, safe="") for s in plain]
        encoded += [base64.b64encode(value.encode()).decode() for value in self.build_secrets.values() if value]
        for user, password in (
            (self.registry_username, self.registry_password),
            (self.git_username, self.git_password),
        ):
            if password:
                encoded.append(base64.b64encode(f"{user}:{password}".encode()).decode())
        return list(dict.fromkeys(plain + encoded))


@dataclass(frozen=True)
class BuildResult:
    image_reference: str | None
    image_digest: str | None


class Reporter(Protocol):
    """How an executor talks back: log lines and progress. Implemented by the engine."""

    def line(self, message: str, *, level: str = "INFO", step: str, step_name: str = "", cut_bytes: int = 0) -> None:
        """One log line; `cut_bytes` > 0: the tool's line was longer, and this many bytes were dropped."""

    def progress(self, *, current_step: int, total_steps: int | None, step_name: str) -> None: ...

    def source_commit(self, commit: str) -> None: ...


@dataclass
class HostReport:
    """What a worker says about its host at start: problems stop it, warnings are logged."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class BuildFailed(Exception):
    """A build that ended in failure. Raise one of the two subclasses."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BuildUserError(BuildFailed):
    """The build's own fault (Dockerfile, repository, branch, credentials): failure_kind build_error."""


class BuildPlatformError(BuildFailed):
    """The platform's fault (disk, registry down, missing tool): failure_kind platform_error."""


class DiskFull(BuildPlatformError):
    """The worker's disk (workspace or layer storage) is full: a platform fault the executor cleans up after."""

    def __init__(self, where: str):
        super().__init__(f"{where}: the worker's disk is full (no space left on device); retry the build")


def is_disk_full(text: str) -> bool:
    """A tool's (or an OSError's) words for a full disk."""
    return "no space left on device" in text.lower()


class BuildInterrupted(Exception):
    """The executor was stopped through cancel(); the engine knows whether by user or timeout."""


class Executor(abc.ABC):
    """One build, one executor instance. `cancel` may be called from another thread."""

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Any) -> Executor:
        """A new executor configured from the server's settings object (passed in, not imported)."""

    @classmethod
    def check_host(cls, settings: Any) -> HostReport:
        """What this host lacks for these settings; a worker with problems refuses to start."""
        return HostReport()

    @abc.abstractmethod
    def prepare(self, spec: BuildSpec, workspace: Path, reporter: Reporter) -> None:
        """Fetch the sources into `workspace` (the clone step)."""

    @abc.abstractmethod
    def run(self, spec: BuildSpec, workspace: Path, reporter: Reporter) -> BuildResult:
        """Build the image and push it; raise BuildFailed or BuildInterrupted."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop whatever is running, promptly (process tree: SIGTERM, then SIGKILL)."""

    def cleanup(self) -> None:  # noqa: B027 — optional hook, deliberately a no-op by default
        """Housekeeping after a build, e.g. keeping the layer cache bounded."""
