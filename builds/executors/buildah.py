"""The buildah executor: git clone, `buildah bud`, `buildah push` — daemonless, OCI, and sandboxed.

Each RUN step runs under runc in its own namespaces, as an unprivileged range of host ids
(``--isolation oci --userns auto``), with its own network (``--network private`` or ``none``) and
the build's memory, CPU and process limits. Each tenant has its own layer storage, so no tenant
gets another's cache hits or can use another's images as FROM. buildah and git run with an
environment built here (a HOME in the workspace, this build's registry credentials only).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builds.executors import git
from builds.executors.base import (
    BuildInterrupted,
    BuildPlatformError,
    BuildResult,
    BuildSpec,
    BuildUserError,
    DiskFull,
    Executor,
    HostReport,
    Reporter,
    is_disk_full,
)
from builds.executors.commands import StepCommands, last_error
from builds.executors.process import ProcessRunner
from builds.executors.sandbox import MOUNTPOINTS, BuildCgroup, missing_controllers, sandbox_problems
from builds.validators import registry_host, tag_safe

logger = logging.getLogger(__name__)

STEP_LINE = re.compile(r"^STEP (\d+)/(\d+): (.*)$")
MISSING_MOUNTPOINT = re.compile(r"/rootfs/(\w+): permission denied")
SANDBOXED = "oci"
LOCK_FILE = ".imagefactory.lock"
BUD_LOCK_FILE = ".imagefactory.bud.lock"  # see bud_turn()
BUD_TURN_POLL_SECONDS = 0.2
# Left in a tenant's storage by a build that filled the disk: the storage is to be emptied as soon
# as no build of the tenant uses it (buildah cannot clean up on a full disk; see reset_storage).
RESET_MARK = ".imagefactory.reset"


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
    isolation: str = SANDBOXED  # or "chroot": no sandbox, an explicit opt-in
    runtime: str = "runc"
    network: str = "private"  # or "none"
    memory: str = ""  # e.g. "2g"; empty: no limit
    cpus: float = 0.0  # 0: no limit
    pids_limit: int = 0  # 0: no limit
    insecure_registries: tuple[str, ...] = ()
    known_hosts: str = ""
    kill_grace_seconds: float = 2.0
    max_line_bytes: int = 16 * 1024
    cache_max_bytes: int = 10 * 1024**3


@contextmanager
def storage_lock(root: Path, *, exclusive: bool) -> Iterator[bool]:
    """A tenant storage's lock: builds share it, pruning takes it alone (and skips a busy storage)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX | fcntl.LOCK_NB) if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            yield False
            return
        try:
            os.utime(root / LOCK_FILE)  # the storage's last use, for pruning the least recently used first
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def bud_turn(root: Path, *, stopped: Callable[[], bool], on_wait: Callable[[], None]) -> Iterator[None]:
    """One `buildah bud` at a time on a tenant's layer storage, on this host.

    buildah 1.28 can deadlock two buds on one storage with --userns auto: one holds layers.lock and
    wants storage.lock, the other the reverse, and both retry forever (containers/storage#1387,
    podman#16062); the builds then hang until their timeout, holding their workers. A tenant's
    concurrent buds gained nothing anyway (each waited on the other's storage locks: two at once
    took twice as long each). Builds of different tenants, and pushes, still run side by side.
    Waits poll, so that a cancel or the build's timeout (`stopped`) ends the wait too.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / BUD_LOCK_FILE, "a+") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stopped():
                    raise BuildInterrupted() from None
                if not waited:
                    on_wait()
                    waited = True
                time.sleep(BUD_TURN_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class BuildahExecutor(Executor):
    def __init__(self, options: BuildahOptions):
        self.options = options
        self.runner = ProcessRunner(grace_seconds=options.kill_grace_seconds, max_line_bytes=options.max_line_bytes)
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
                isolation=settings.BUILD_ISOLATION,
                runtime=settings.BUILD_OCI_RUNTIME,
                network=settings.BUILD_NETWORK,
                memory=settings.BUILD_MEMORY_LIMIT,
                cpus=settings.BUILD_CPU_LIMIT,
                pids_limit=settings.BUILD_PIDS_LIMIT,
                insecure_registries=tuple(settings.INSECURE_REGISTRIES),
                known_hosts=settings.SSH_KNOWN_HOSTS,
                kill_grace_seconds=settings.BUILD_KILL_GRACE_SECONDS,
                max_line_bytes=settings.BUILD_LOG_MAX_LINE_BYTES,
                cache_max_bytes=settings.BUILD_CACHE_MAX_BYTES,
            )
        )

    @classmethod
    def check_host(cls, settings: Any) -> HostReport:
        options = cls.from_settings(settings).options
        report = HostReport()
        if options.isolation != SANDBOXED:
            report.warnings.append(
                f"BUILD_ISOLATION={options.isolation}: builds run WITHOUT a sandbox; a Dockerfile's RUN steps "
                "can see other builds and this host. Only for trusted Dockerfiles."
            )
            return report
        problems = sandbox_problems(options.runtime)
        if problems:
            report.problems += [f"sandboxed builds are not possible on this host: {p}" for p in problems]
            report.problems.append(
                "fix the host (see README, 'Build sandbox'), or set BUILD_ISOLATION=chroot to "
                "run builds without a sandbox (unsafe for untrusted Dockerfiles)"
            )
        missing = missing_controllers()
        limits = {"memory": options.memory, "cpu": options.cpus, "pids": options.pids_limit}
        for controller in missing:
            if limits[controller]:
                report.warnings.append(
                    f"this host has no {controller} cgroup controller: the build {controller} limit is not enforced"
                )
        return report

    # --- plumbing ------------------------------------------------------------------------
    def _roots(self, tenant_id: str) -> tuple[Path, Path]:
        """The tenant's own layer storage and run root."""
        return Path(self.options.storage_root) / tenant_id, Path(self.options.run_root) / tenant_id

    def _buildah(self, tenant_id: str, *args: str) -> list[str]:
        storage, run = self._roots(tenant_id)
        return [
            self.options.binary,
            "--storage-driver",
            self.options.storage_driver,
            "--root",
            str(storage),
            "--runroot",
            str(run),
            *args,
        ]

    def _tool_env(self, workspace: Path, authfile: Path) -> dict[str, str]:
        """buildah's whole environment: nothing of the worker's, and only this build's registry logins."""
        home = git.tool_home(workspace)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C",
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(home / ".run"),
            "REGISTRY_AUTH_FILE": str(authfile),
        }

    def _build_step_name(self) -> str:
        if self.build_step[1]:
            i, m, instruction = self.build_step
            return f"STEP {i}/{m}: {instruction}"[:200]
        return "build"

    def cancel(self) -> None:
        self.runner.stop()

    # --- clone ---------------------------------------------------------------------------
    def prepare(self, spec: BuildSpec, workspace: Path, reporter: Reporter) -> None:
        git.checkout(spec, workspace, StepCommands(self.runner, reporter), reporter, self.options.known_hosts)

    # --- build and push ------------------------------------------------------------------
    def _tags(self, spec: BuildSpec, commit: str) -> list[str]:
        tags = [f"build-{spec.build_number}", tag_safe(spec.git_branch)]
        if commit:
            tags.append(commit[:12])
        if spec.git_branch == spec.default_branch:
            tags.append("latest")
        return list(dict.fromkeys(tags))

    def _write_authfile(self, spec: BuildSpec, workspace: Path) -> Path:
        """Always an explicit auth file, so buildah never falls back to the worker's own logins."""
        auths = {}
        if spec.image_repository and spec.registry_username and spec.registry_password:
            token = base64.b64encode(f"{spec.registry_username}:{spec.registry_password}".encode()).decode()
            auths[registry_host(spec.image_repository)] = {"auth": token}
        authfile = workspace / "auth.json"
        authfile.write_text(json.dumps({"auths": auths}))
        authfile.chmod(0o600)
        return authfile

    def _sandbox_args(self, cgroup: BuildCgroup | None) -> list[str]:
        o = self.options
        if o.isolation != SANDBOXED:
            return ["--isolation", o.isolation]
        args = ["--isolation", SANDBOXED, "--runtime", o.runtime, "--userns", "auto", "--network", o.network]
        if o.memory:
            args += ["--memory", o.memory, "--memory-swap", o.memory]
        if o.cpus:
            args += ["--cpu-period", "100000", "--cpu-quota", str(int(o.cpus * 100000))]
        if cgroup is not None:
            args += ["--cgroup-parent", cgroup.step_parent]
        elif o.pids_limit:
            args += ["--ulimit", f"nproc={o.pids_limit}:{o.pids_limit}"]
        return args

    def _secret_args(self, spec: BuildSpec, workspace: Path) -> list[str]:
        if not spec.build_secrets:
            return []
        directory = workspace / "secrets"
        directory.mkdir(mode=0o700)
        args = []
        for name, value in spec.build_secrets.items():
            path = directory / name
            path.write_text(value)
            path.chmod(0o600)
            args += ["--secret", f"id={name},src={path}"]
        return args

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
        storage, _ = self._roots(spec.tenant_id)
        if (storage / RESET_MARK).exists():
            self.reset_storage(spec.tenant_id)
        try:
            with storage_lock(storage, exclusive=False):
                return self._build_and_push(spec, workspace, commands, reporter, dockerfile, context, commit)
        except DiskFull:
            with contextlib.suppress(OSError):  # the mark is for a later try; this one may do it now
                (storage / RESET_MARK).touch()
            self.reset_storage(spec.tenant_id)
            raise

    def reset_storage(self, tenant_id: str) -> bool:
        """Empties the tenant's layer storage (and run root) once no build of the tenant uses it.

        On a full disk buildah fails to clean up after the failed step: it drops the working
        container's record but not its layer, which no buildah command removes then. The storage
        only caches layers (images are pushed, the registry keeps them), so after a full disk it
        is emptied whole: the failed build's working containers, intermediate images and leaked
        layers go, and the next build starts from a clean cache. False while a build of the
        tenant still runs here; its mark stays, and the next build or cleanup of the tenant does it.
        """
        storage, run_root = self._roots(tenant_id)
        with storage_lock(storage, exclusive=True) as idle:
            if not idle:
                logger.warning("layer storage of tenant %s is full but in use; emptied later", tenant_id)
                return False
            subprocess.run(self._buildah(tenant_id, "rm", "--all"), capture_output=True)
            for root in (storage, run_root):
                for entry in root.iterdir() if root.exists() else ():
                    if entry.name in (LOCK_FILE, BUD_LOCK_FILE):
                        continue
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
            logger.warning("emptied the layer storage of tenant %s after its disk filled up", tenant_id)
            return True

    def _build_and_push(
        self,
        spec: BuildSpec,
        workspace: Path,
        commands: StepCommands,
        reporter: Reporter,
        dockerfile: Path,
        context: Path,
        commit: str,
    ) -> BuildResult:
        pushes = bool(spec.image_repository)
        repository = spec.image_repository or f"localhost/imagefactory/build-{spec.build_id}"
        tags = self._tags(spec, commit)
        local = f"{repository}:{tags[0]}"
        # bud gives the image all its names at once: each `buildah tag` (and `rmi`) afterwards would
        # be one more buildah process opening and locking the tenant's layer storage. The cache
        # anchor keeps the newest build's layers cached for the next build once the push tags are
        # removed (untagged images lose their intermediate layers on `rmi`; see cleanup()).
        names = [f"{repository}:{tag}" for tag in tags] if pushes else [local]
        authfile = self._write_authfile(spec, workspace)
        env = self._tool_env(workspace, authfile)

        def on_build_line(text: str) -> None:
            match = STEP_LINE.match(text)
            if match:
                i, m = int(match[1]), int(match[2])
                self.build_step = (i, m, match[3])
                self.total_steps = 1 + m + (1 if pushes else 0)
                reporter.progress(
                    current_step=1 + i, total_steps=self.total_steps, step_name=f"STEP {i}/{m}: {match[3]}"[:200]
                )

        cgroup = BuildCgroup(spec.build_id, self.options.pids_limit) if self.options.isolation == SANDBOXED else None

        if cgroup is not None and not cgroup.create():
            cgroup = None
        try:
            build_args = [arg for name, value in spec.build_args.items() for arg in ("--build-arg", f"{name}={value}")]
            options = [
                "bud",
                *self._sandbox_args(cgroup),
                "--layers",
                "--force-rm",
                "--authfile",
                str(authfile),
                *self._secret_args(spec, workspace),
                "-f",
                str(dockerfile),
                *(option for name in [*names, self._cache_anchor(spec)] for option in ("-t", name)),
            ]
            argv = self._buildah(spec.tenant_id, *options, *build_args, str(context))
            # Build args end up in the image's history, so they are no secret; still, the log echoes names only.
            shown_args = [arg for name in spec.build_args for arg in ("--build-arg", f"{name}=…")]
            shown = " ".join(self._buildah(spec.tenant_id, *options, *shown_args, str(context)))
            tail: deque[str] = deque(maxlen=30)

            def waiting() -> None:
                reporter.line(
                    "Another build of this tenant is in its build step on this worker host; "
                    "this one builds when it is done (one build step per tenant and host)",
                    step="build",
                    step_name="build",
                )

            storage, _ = self._roots(spec.tenant_id)
            with bud_turn(storage, stopped=lambda: self.runner.stopped, on_wait=waiting):
                code = commands.run(
                    argv,
                    step="build",
                    step_name=self._build_step_name,
                    cwd=context,
                    env=env,
                    tail=tail,
                    on_line=on_build_line,
                    shown=shown,
                )
            if cgroup is not None and cgroup.hit_pids_limit():
                raise BuildUserError(
                    f"{self._where()}: the build reached its limit of {self.options.pids_limit} "
                    "processes (BUILD_PIDS_LIMIT) and forks were refused"
                )
            if code != 0:
                raise self._build_failure(code, tail)
        finally:
            if cgroup is not None:
                cgroup.remove()
        try:
            if not pushes:
                reporter.line(
                    f"Built {local} (no image repository configured, not pushed)", step="build", step_name="build"
                )
                return BuildResult(image_reference=None, image_digest=None)
            return self._push(spec, workspace, repository, tags, commands, reporter, env)
        finally:  # pushed, not pushed or a push failed: the image keeps only its cache anchor here
            subprocess.run(self._buildah(spec.tenant_id, "rmi", *names), capture_output=True, env=env)

    def _where(self) -> str:
        i, m, instruction = self.build_step
        return f"step {i}/{m} {instruction}" if m else "step build"

    def _build_failure(self, code: int, tail: deque[str]) -> BuildUserError | BuildPlatformError:
        text = "\n".join(tail)
        if is_disk_full(text):
            return DiskFull(self._where())
        mountpoint = MISSING_MOUNTPOINT.search(text)
        if mountpoint:
            needed = ", ".join(f"/{name}" for name in MOUNTPOINTS)
            return BuildUserError(
                f"{self._where()}: the image has no /{mountpoint[1]} directory for the sandbox to mount; an image "
                f"built FROM scratch that RUNs commands must contain {needed} (e.g. COPY an empty skeleton)"
            )
        exit_status = re.search(r"exit status (\d+)", text)
        if exit_status:
            return BuildUserError(f"{self._where()}: exit code {exit_status[1]}")
        return BuildUserError(f"{self._where()}: {last_error(tail, f'buildah exit code {code}')}")

    def _push(
        self,
        spec: BuildSpec,
        workspace: Path,
        repository: str,
        tags: list[str],
        commands: StepCommands,
        reporter: Reporter,
        env: dict[str, str],
    ) -> BuildResult:
        assert self.total_steps is not None
        reporter.progress(current_step=self.total_steps, total_steps=self.total_steps, step_name="push")
        host = registry_host(repository)
        insecure = is_insecure_registry(host, self.options.insecure_registries)
        tls = ["--tls-verify=false"] if insecure else ["--tls-verify=true"]
        authfile = workspace / "auth.json"
        digest_file = workspace / "digest"
        digest = None
        for tag in tags:
            target = f"{repository}:{tag}"
            tail: deque[str] = deque(maxlen=20)
            code = commands.run(
                self._buildah(
                    spec.tenant_id,
                    "push",
                    *tls,
                    "--authfile",
                    str(authfile),
                    "--digestfile",
                    str(digest_file),
                    target,
                    f"docker://{target}",
                ),
                step="push",
                step_name="push",
                tail=tail,
                env=env,
            )
            if code != 0:
                reason = last_error(tail, f"exit code {code}")
                if is_disk_full(reason) or is_disk_full("\n".join(tail)):
                    raise DiskFull("step push")
                if "unauthorized" in reason.lower() or "authentication required" in reason.lower():
                    raise BuildUserError(f"step push: registry {host} refused the credentials: {reason}")
                raise BuildPlatformError(f"step push: pushing to {host} failed: {reason}")
            digest = digest or digest_file.read_text().strip()
        reporter.line(f"Pushed {repository} with tags {', '.join(tags)} ({digest})", step="push", step_name="push")
        return BuildResult(image_reference=f"{repository}:{tags[0]}", image_digest=digest)

    # --- housekeeping --------------------------------------------------------------------
    @staticmethod
    def _cache_anchor(spec: BuildSpec) -> str:
        key = hashlib.sha256(f"{spec.repository_url}\0{spec.dockerfile_path}".encode()).hexdigest()[:20]
        return f"localhost/imagefactory-cache/{key}:latest"

    def cleanup(self) -> None:
        """Keeps the tenants' layer storages together under BUILD_CACHE_MAX_BYTES.

        Prunes the least recently used storages first, each only while no build of its tenant runs
        on this host (its lock), so a prune never deletes an image a build is using or pushing.
        """
        base = Path(self.options.storage_root)
        if not base.exists():
            return
        for root in base.iterdir():
            if (root / RESET_MARK).exists():
                self.reset_storage(root.name)
        sizes = {root: _disk_usage(root) for root in base.iterdir() if root.is_dir()}
        total = sum(sizes.values())
        by_last_use = sorted(
            sizes, key=lambda root: (root / LOCK_FILE).stat().st_mtime if (root / LOCK_FILE).exists() else 0.0
        )
        for root in by_last_use:
            if total <= self.options.cache_max_bytes:
                return
            with storage_lock(root, exclusive=True) as idle:
                if not idle:
                    continue
                logger.info(
                    "layer caches at %d bytes exceed %d; pruning %s", total, self.options.cache_max_bytes, root.name
                )
                # Dangling layers first; then every image of this tenant (no build of it runs here now).
                subprocess.run(self._buildah(root.name, "rmi", "--prune"), capture_output=True)
                subprocess.run(self._buildah(root.name, "rmi", "--all"), capture_output=True)
                total += _disk_usage(root) - sizes[root]


def _disk_usage(root: Path) -> int:
    usage = subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True)
    try:
        return int(usage.stdout.split()[0])
    except (IndexError, ValueError):
        return 0
