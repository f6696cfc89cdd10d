"""The buildah executor: git clone, `buildah bud`, `buildah push` — daemonless and OCI."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import subprocess
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builds.executors import git
from builds.executors.base import (
    BuildPlatformError,
    BuildResult,
    BuildSpec,
    BuildUserError,
    Executor,
    Reporter,
)
from builds.executors.commands import StepCommands, last_error
from builds.executors.process import ProcessRunner
from builds.validators import registry_host, tag_safe

logger = logging.getLogger(__name__)

STEP_LINE = re.compile(r"^STEP (\d+)/(\d+): (.*)$")
NO_SPACE = "no space left on device"


def is_insecure_registry(host: str, listed: Sequence[str] = ()) -> bool:
    """Loopback registries and those `listed` (INSECURE_REGISTRIES) are spoken to over plain HTTP."""
    if host in listed:
        return True
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class BuildahOptions:
    storage_root: str
    run_root: str
    binary: str = "buildah"
    storage_driver: str = "vfs"
    isolation: str = "chroot"
    insecure_registries: tuple[str, ...] = ()
    kill_grace_seconds: float = 2.0
    cache_max_bytes: int = 10 * 1024**3


class BuildahExecutor(Executor):
    def __init__(self, options: BuildahOptions):
        self.options = options
        self.runner = ProcessRunner(grace_seconds=options.kill_grace_seconds)
        self.total_steps: int | None = None
        self.build_step = (0, 0, "")  # (i, m, instruction) of buildah's latest STEP line

    @classmethod
    def from_settings(cls, settings: Any) -> BuildahExecutor:
        return cls(
            BuildahOptions(
                storage_root=settings.BUILDAH_STORAGE_ROOT,
                run_root=settings.BUILDAH_RUN_ROOT,
                binary=settings.BUILDAH_BINARY,
                storage_driver=settings.BUILDAH_STORAGE_DRIVER,
                isolation=settings.BUILDAH_ISOLATION,
                insecure_registries=tuple(settings.INSECURE_REGISTRIES),
                kill_grace_seconds=settings.BUILD_KILL_GRACE_SECONDS,
                cache_max_bytes=settings.BUILD_CACHE_MAX_BYTES,
            )
        )

    # --- plumbing ------------------------------------------------------------------------
    def _buildah(self, *args: str) -> list[str]:
        o = self.options
        return [
            o.binary,
            "--storage-driver",
            o.storage_driver,
            "--root",
            o.storage_root,
            "--runroot",
            o.run_root,
            *args,
        ]

    def _build_step_name(self) -> str:
        if self.build_step[1]:
            i, m, instruction = self.build_step
            return f"STEP {i}/{m}: {instruction}"[:200]
        return "build"

    def cancel(self) -> None:
        self.runner.stop()

    # --- clone ---------------------------------------------------------------------------
    def prepare(self, spec: BuildSpec, workspace: Path, reporter: Reporter) -> None:
        git.checkout(spec, workspace, StepCommands(self.runner, reporter), reporter)

    # --- build and push ------------------------------------------------------------------
    def _tags(self, spec: BuildSpec, commit: str) -> list[str]:
        tags = [f"build-{spec.build_number}", tag_safe(spec.git_branch)]
        if commit:
            tags.append(commit[:12])
        if spec.git_branch == spec.default_branch:
            tags.append("latest")
        return list(dict.fromkeys(tags))

    def run(self, spec: BuildSpec, workspace: Path, reporter: Reporter) -> BuildResult:
        commands = StepCommands(self.runner, reporter)
        source = workspace / "src"
        dockerfile = (source / spec.dockerfile_path).resolve()
        context = (source / spec.build_context).resolve()
        root = source.resolve()
        for path, what, given in (
            (dockerfile, "Dockerfile", spec.dockerfile_path),
            (context, "build context", spec.build_context),
        ):
            if not path.is_relative_to(root) or not path.exists():
                raise BuildUserError(f"step build: {what} '{given}' not found in the repository")
        commit = git.quiet_git(source, git.git_env(spec, workspace), "rev-parse", "HEAD").stdout.strip()
        pushes = bool(spec.image_repository)
        repository = spec.image_repository or f"localhost/imagefactory/build-{spec.build_id}"
        tags = self._tags(spec, commit)
        local = f"{repository}:{tags[0]}"

        def on_build_line(text: str) -> None:
            match = STEP_LINE.match(text)
            if match:
                i, m = int(match[1]), int(match[2])
                self.build_step = (i, m, match[3])
                self.total_steps = 1 + m + (1 if pushes else 0)
                reporter.progress(
                    current_step=1 + i, total_steps=self.total_steps, step_name=f"STEP {i}/{m}: {match[3]}"[:200]
                )

        argv = self._buildah(
            "bud", "--isolation", self.options.isolation, "--layers", "-f", str(dockerfile), "-t", local
        )
        for name, value in spec.build_args.items():
            argv += ["--build-arg", f"{name}={value}"]
        argv.append(str(context))
        tail: deque[str] = deque(maxlen=30)
        code = commands.run(
            argv, step="build", step_name=self._build_step_name, cwd=source, tail=tail, on_line=on_build_line
        )
        if code != 0:
            raise self._build_failure(code, tail)
        # Untagged images lose their intermediate layers on `rmi`: a tag per repository and
        # Dockerfile keeps the newest build's layers cached for the next build (see cleanup()).
        subprocess.run(self._buildah("tag", local, self._cache_anchor(spec)), capture_output=True)
        if not pushes:
            reporter.line(
                f"Built {local} (no image repository configured, not pushed)", step="build", step_name="build"
            )
            subprocess.run(self._buildah("rmi", local), capture_output=True)  # untag; the anchor keeps the layers
            return BuildResult(image_reference=None, image_digest=None)
        return self._push(spec, workspace, repository, tags, local, commands, reporter)

    def _build_failure(self, code: int, tail: deque[str]) -> BuildUserError | BuildPlatformError:
        text = "\n".join(tail)
        i, m, instruction = self.build_step
        where = f"step {i}/{m} {instruction}" if m else "step build"
        if NO_SPACE in text:
            return BuildPlatformError(f"{where}: the worker ran out of disk space")
        exit_status = re.search(r"exit status (\d+)", text)
        if exit_status:
            return BuildUserError(f"{where}: exit code {exit_status[1]}")
        return BuildUserError(f"{where}: {last_error(tail, f'buildah exit code {code}')}")

    def _push(
        self,
        spec: BuildSpec,
        workspace: Path,
        repository: str,
        tags: list[str],
        local: str,
        commands: StepCommands,
        reporter: Reporter,
    ) -> BuildResult:
        assert self.total_steps is not None
        reporter.progress(current_step=self.total_steps, total_steps=self.total_steps, step_name="push")
        host = registry_host(repository)
        insecure = is_insecure_registry(host, self.options.insecure_registries)
        tls = ["--tls-verify=false"] if insecure else ["--tls-verify=true"]
        auth: list[str] = []
        if spec.registry_username and spec.registry_password:
            authfile = workspace / "auth.json"
            token = base64.b64encode(f"{spec.registry_username}:{spec.registry_password}".encode()).decode()
            authfile.write_text(json.dumps({"auths": {host: {"auth": token}}}))
            authfile.chmod(0o600)
            auth = ["--authfile", str(authfile)]
        digest_file = workspace / "digest"
        digest = None
        for tag in tags:
            target = f"{repository}:{tag}"
            if target != local:
                commands.run(self._buildah("tag", local, target), step="push", step_name="push")
            tail: deque[str] = deque(maxlen=20)
            code = commands.run(
                self._buildah("push", *tls, *auth, "--digestfile", str(digest_file), target, f"docker://{target}"),
                step="push",
                step_name="push",
                tail=tail,
            )
            if code != 0:
                reason = last_error(tail, f"exit code {code}")
                if "unauthorized" in reason.lower() or "authentication required" in reason.lower():
                    raise BuildUserError(f"step push: registry {host} refused the credentials: {reason}")
                raise BuildPlatformError(f"step push: pushing to {host} failed: {reason}")
            digest = digest or digest_file.read_text().strip()
        for tag in tags:
            subprocess.run(self._buildah("rmi", f"{repository}:{tag}"), capture_output=True)
        reporter.line(f"Pushed {repository} with tags {', '.join(tags)} ({digest})", step="push", step_name="push")
        return BuildResult(image_reference=f"{repository}:{tags[0]}", image_digest=digest)

    # --- housekeeping --------------------------------------------------------------------
    @staticmethod
    def _cache_anchor(spec: BuildSpec) -> str:
        key = hashlib.sha256(f"{spec.repository_url}\0{spec.dockerfile_path}".encode()).hexdigest()[:20]
        return f"localhost/imagefactory-cache/{key}:latest"

    def cleanup(self) -> None:
        """Keeps the layer cache under BUILD_CACHE_MAX_BYTES by pruning it when it grows past."""
        root = Path(self.options.storage_root)
        if not root.exists():
            return
        usage = subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True)
        try:
            size = int(usage.stdout.split()[0])
        except (IndexError, ValueError):
            return
        if size > self.options.cache_max_bytes:
            logger.info("layer cache at %d bytes exceeds %d; pruning", size, self.options.cache_max_bytes)
            # Dangling layers first; then every image no running build is using (no --force).
            subprocess.run(self._buildah("rmi", "--prune"), capture_output=True)
            subprocess.run(self._buildah("rmi", "--all"), capture_output=True)
