"""The buildah executor: git clone, `buildah bud`, `buildah push` — daemonless and OCI."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import os
import re
import shutil
import subprocess
from collections import deque
from pathlib import Path

from django.conf import settings

from builds.executors.base import (
    BuildInterrupted,
    BuildPlatformError,
    BuildResult,
    BuildSpec,
    BuildUserError,
    Executor,
    Reporter,
)
from builds.executors.process import ProcessRunner
from builds.validators import registry_host, tag_safe

logger = logging.getLogger(__name__)

STEP_LINE = re.compile(r"^STEP (\d+)/(\d+): (.*)$")
# Plain prefixes ("error:", "fatal:"), logrus on a terminal ("ERRO[0003] ") and logrus on a pipe ("level=error").
ERROR_LINE = re.compile(r"^(?:(?:error|fatal|Error|ERROR)\b[:\s]|(?:ERRO|FATA)\[\d+\]\s)|\blevel=(?:error|fatal)\b")
WARN_LINE = re.compile(r"^(?:(?:warning|Warning|WARN|WARNING)\b[:\s]|WARN\[\d+\]\s)|\blevel=warn(?:ing)?\b")
PLATFORM_HINTS = ("no space left on device", "connection refused", "no such host", "i/o timeout",
                  "dial tcp", "TLS handshake", "x509:", "server gave HTTP response")


def classify(line: str) -> str:
    if ERROR_LINE.search(line):
        return "ERROR"
    if WARN_LINE.search(line):
        return "WARN"
    return "INFO"


def is_insecure_registry(host: str) -> bool:
    """Loopback registries and those listed in INSECURE_REGISTRIES are spoken to over plain HTTP."""
    if host in settings.INSECURE_REGISTRIES:
        return True
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class BuildahExecutor(Executor):
    def __init__(self) -> None:
        self.runner = ProcessRunner(grace_seconds=settings.BUILD_KILL_GRACE_SECONDS)
        self.total_steps: int | None = None
        self.build_step = (0, 0, "")  # (i, m, instruction) of buildah's latest STEP line

    # --- plumbing ------------------------------------------------------------------------
    def _buildah(self, *args: str) -> list[str]:
        return [settings.BUILDAH_BINARY, "--storage-driver", settings.BUILDAH_STORAGE_DRIVER,
                "--root", settings.BUILDAH_STORAGE_ROOT, "--runroot", settings.BUILDAH_RUN_ROOT, *args]

    def _run(self, argv: list[str], reporter: Reporter, *, step: str, step_name: str, cwd: Path | None = None,
             env: dict[str, str] | None = None, tail: deque | None = None, on_line=None, shown: str | None = None,
             ) -> int:
        reporter.line(f"$ {shown or ' '.join(argv)}", level="DEBUG", step=step, step_name=step_name)

        def handle(text: str) -> None:
            if tail is not None:
                tail.append(text)
            if on_line is not None:
                on_line(text)
            reporter.line(text, level=classify(text), step=step, step_name=self._step_name(step, step_name))

        return self.runner.run(argv, on_line=handle, cwd=cwd, env=env)

    def _step_name(self, step: str, default: str) -> str:
        if step == "build" and self.build_step[1]:
            i, m, instruction = self.build_step
            return f"STEP {i}/{m}: {instruction}"[:200]
        return default

    def cancel(self) -> None:
        self.runner.stop()

    # --- clone ---------------------------------------------------------------------------
    def _git_env(self, spec: BuildSpec, workspace: Path) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workspace),
               "GIT_TERMINAL_PROMPT": "0", "LANG": "C"}
        if spec.git_username or spec.git_password:
            askpass = workspace / "askpass.sh"
            askpass.write_text('#!/bin/sh\ncase "$1" in\n  Username*) printf %s "$GIT_USER" ;;\n'
                               '  *) printf %s "$GIT_PASS" ;;\nesac\n')
            askpass.chmod(0o700)
            env.update(GIT_ASKPASS=str(askpass), GIT_USER=spec.git_username, GIT_PASS=spec.git_password)
        if spec.git_ssh_private_key:
            key = workspace / "id_key"
            key.write_text(spec.git_ssh_private_key.strip() + "\n")
            key.chmod(0o600)
            env["GIT_SSH_COMMAND"] = f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
        return env

    def prepare(self, spec: BuildSpec, workspace: Path, reporter: Reporter) -> None:
        source = workspace / "src"
        env = self._git_env(spec, workspace)
        reporter.progress(current_step=1, total_steps=None, step_name="clone")
        reporter.line(f"Cloning {spec.repository_url} at branch {spec.git_branch}", step="clone", step_name="clone")
        tail: deque[str] = deque(maxlen=20)
        depth = "50" if spec.git_commit else "1"
        code = self._run(["git", "clone", "--depth", depth, "--single-branch", "--branch", spec.git_branch,
                          "--no-tags", "--", spec.repository_url, str(source)],
                         reporter, step="clone", step_name="clone", env=env, tail=tail)
        if code != 0:
            text = "\n".join(tail)
            if "not found in upstream" in text or "Could not find remote branch" in text:
                raise BuildUserError(f"step clone: branch '{spec.git_branch}' not found in {spec.repository_url}")
            reason = next((line for line in reversed(tail) if line.startswith("fatal:")), f"exit code {code}")
            raise BuildUserError(f"step clone: git clone failed: {reason}")
        if spec.git_commit:
            self._checkout_commit(spec, source, env, reporter)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, env=env, capture_output=True, text=True)
        reporter.source_commit(head.stdout.strip())

    def _git_quiet(self, source: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=source, env=env, capture_output=True, text=True)

    def _checkout_commit(self, spec: BuildSpec, source: Path, env: dict[str, str], reporter: Reporter) -> None:
        commit, branch = spec.git_commit, spec.git_branch
        resolved = self._git_quiet(source, env, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
        if resolved.returncode != 0:
            reporter.line("Commit not in the shallow history; fetching the whole branch", step="clone",
                          step_name="clone")
            self._run(["git", "fetch", "--unshallow", "origin", branch], reporter, step="clone",
                      step_name="clone", cwd=source, env=env)
            resolved = self._git_quiet(source, env, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
        if resolved.returncode != 0:
            raise BuildUserError(f"step clone: commit {commit} not found on branch '{branch}'")
        full = resolved.stdout.strip()
        if self._git_quiet(source, env, "merge-base", "--is-ancestor", full, "HEAD").returncode != 0:
            raise BuildUserError(f"step clone: commit {commit} is not reachable from branch '{branch}'")
        code = self._run(["git", "checkout", "--quiet", "--detach", full], reporter, step="clone",
                         step_name="clone", cwd=source, env=env)
        if code != 0:
            raise BuildUserError(f"step clone: could not check out commit {commit}")

    # --- build and push ------------------------------------------------------------------
    def _tags(self, spec: BuildSpec, commit: str) -> list[str]:
        tags = [f"build-{spec.build_number}", tag_safe(spec.git_branch)]
        if commit:
            tags.append(commit[:12])
        if spec.git_branch == spec.default_branch:
            tags.append("latest")
        return list(dict.fromkeys(tags))

    def run(self, spec: BuildSpec, workspace: Path, reporter: Reporter) -> BuildResult:
        source = workspace / "src"
        dockerfile = (source / spec.dockerfile_path).resolve()
        context = (source / spec.build_context).resolve()
        root = source.resolve()
        for path, what, given in ((dockerfile, "Dockerfile", spec.dockerfile_path),
                                  (context, "build context", spec.build_context)):
            if not path.is_relative_to(root) or not path.exists():
                raise BuildUserError(f"step build: {what} '{given}' not found in the repository")
        commit = self._git_quiet(source, {"PATH": os.environ.get("PATH", "")}, "rev-parse", "HEAD").stdout.strip()
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
                reporter.progress(current_step=1 + i, total_steps=self.total_steps,
                                  step_name=f"STEP {i}/{m}: {match[3]}"[:200])

        argv = self._buildah("bud", "--isolation", settings.BUILDAH_ISOLATION, "--layers", "-f", str(dockerfile),
                             "-t", local)
        for name, value in spec.build_args.items():
            argv += ["--build-arg", f"{name}={value}"]
        argv.append(str(context))
        tail: deque[str] = deque(maxlen=30)
        code = self._run(argv, reporter, step="build", step_name="build", cwd=source, tail=tail,
                         on_line=on_build_line)
        if code != 0:
            raise self._build_failure(code, tail)
        # Untagged images lose their intermediate layers on `rmi`: a tag per repository and
        # Dockerfile keeps the newest build's layers cached for the next build (see cleanup()).
        subprocess.run(self._buildah("tag", local, self._cache_anchor(spec)), capture_output=True)
        if not pushes:
            reporter.line(f"Built {local} (no image repository configured, not pushed)", step="build",
                          step_name="build")
            subprocess.run(self._buildah("rmi", local), capture_output=True)  # untag; the anchor keeps the layers
            return BuildResult(image_reference=None, image_digest=None)
        return self._push(spec, workspace, repository, tags, local, reporter)

    def _build_failure(self, code: int, tail: deque) -> Exception:
        text = "\n".join(tail)
        i, m, instruction = self.build_step
        where = f"step {i}/{m} {instruction}" if m else "step build"
        if any(hint in text for hint in PLATFORM_HINTS[:1]):
            return BuildPlatformError(f"{where}: the worker ran out of disk space")
        exit_status = re.search(r"exit status (\d+)", text)
        if exit_status:
            return BuildUserError(f"{where}: exit code {exit_status[1]}")
        reason = next((line for line in reversed(tail) if classify(line) == "ERROR"), f"buildah exit code {code}")
        return BuildUserError(f"{where}: {reason}")

    def _push(self, spec: BuildSpec, workspace: Path, repository: str, tags: list[str], local: str,
              reporter: Reporter) -> BuildResult:
        assert self.total_steps is not None
        reporter.progress(current_step=self.total_steps, total_steps=self.total_steps, step_name="push")
        host = registry_host(repository)
        tls = ["--tls-verify=false"] if is_insecure_registry(host) else ["--tls-verify=true"]
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
                self._run(self._buildah("tag", local, target), reporter, step="push", step_name="push")
            tail: deque[str] = deque(maxlen=20)
            code = self._run(self._buildah("push", *tls, *auth, "--digestfile", str(digest_file), target,
                                           f"docker://{target}"),
                             reporter, step="push", step_name="push", tail=tail)
            if code != 0:
                reason = next((line for line in reversed(tail) if classify(line) == "ERROR"), f"exit code {code}")
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
        root = Path(settings.BUILDAH_STORAGE_ROOT)
        if not root.exists():
            return
        usage = subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True)
        try:
            size = int(usage.stdout.split()[0])
        except (IndexError, ValueError):
            return
        if size > settings.BUILD_CACHE_MAX_BYTES:
            logger.info("layer cache at %d bytes exceeds %d; pruning", size, settings.BUILD_CACHE_MAX_BYTES)
            # Dangling layers first; then every image no running build is using (no --force).
            subprocess.run(self._buildah("rmi", "--prune"), capture_output=True)
            subprocess.run(self._buildah("rmi", "--all"), capture_output=True)


def buildah_available() -> bool:
    return shutil.which(settings.BUILDAH_BINARY) is not None


__all__ = ["BuildahExecutor", "BuildInterrupted", "buildah_available"]
