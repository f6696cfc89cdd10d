"""The build sandbox: what a host needs for sandboxed builds, and a cgroup per build for its process limit.

A sandboxed RUN step (``buildah bud --isolation oci --runtime runc --userns auto``) gets its own
PID, IPC, UTS, mount and network namespaces, and its root is an unprivileged range of host ids
taken from the ``containers`` entries of /etc/subuid and /etc/subgid.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

from builds.executors.process import alive

# Directories runc mounts over in a RUN step. Base images have them; a FROM scratch image that
# RUNs commands must bring them (runc cannot create them as the unprivileged root).
MOUNTPOINTS = ("proc", "sys", "dev", "run", "etc")
SUBID_USER = "containers"
MIN_SUBIDS = 65536
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _subid_count(path: Path, user: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    total = 0
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] == user and parts[2].isdigit():
            total += int(parts[2])
    return total


def sandbox_problems(runtime: str) -> list[str]:
    """Why this host cannot run sandboxed builds (empty when it can)."""
    problems = []
    if shutil.which(runtime) is None:
        problems.append(f"the OCI runtime '{runtime}' is not installed (Debian/Ubuntu: apt-get install {runtime})")
    try:
        namespaces = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        namespaces = 0
    if namespaces <= 0:
        problems.append("the kernel allows no user namespaces (sysctl user.max_user_namespaces is 0)")
    for path in (Path("/etc/subuid"), Path("/etc/subgid")):
        if _subid_count(path, SUBID_USER) < MIN_SUBIDS:
            problems.append(
                f"{path} has no '{SUBID_USER}' range of at least {MIN_SUBIDS} ids "
                f"(add e.g. '{SUBID_USER}:2147483647:2147483648')"
            )
    return problems


def cgroup_version() -> int | None:
    """2 for the unified hierarchy, 1 for v1 (or hybrid) with a pids controller, None without."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return 2
    if (CGROUP_ROOT / "pids").is_dir():
        return 1
    return None


def missing_controllers() -> list[str]:
    """The cgroup controllers among memory, cpu and pids that this host does not offer."""
    if cgroup_version() == 2:
        offered = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
    else:
        offered = {name for name in ("memory", "cpu", "pids") if (CGROUP_ROOT / name).is_dir()}
    return [name for name in ("memory", "cpu", "pids") if name not in offered]


class BuildCgroup:
    """A cgroup per build: its pids.max bounds all RUN steps together, and it marks their processes.

    buildah runs each step in ``<name>/run`` below it (``--cgroup-parent``); runc creates and removes
    that one. Reaching pids.max means forks were refused: a fork bomb, or a build that needs a
    higher BUILD_PIDS_LIMIT; either way the build fails. A RUN step's processes carry none of the
    worker's environment, but they cannot leave their cgroup: its name holds the worker's pid, so
    the janitor finds the steps of a worker that died (`kill_orphaned_cgroups`).
    """

    def __init__(self, build_id: str, pids_max: int):
        self.name = f"{CGROUP_PARENT}/w{os.getpid()}-{build_id}"
        self.pids_max = pids_max
        self.version = cgroup_version()

    @property
    def step_parent(self) -> str:
        """The value of buildah's --cgroup-parent."""
        return f"/{self.name}/run"

    def create(self) -> bool:
        """False when the host has no pids controller (no limit, no marking)."""
        if self.version is None:
            return False
        directory = _pids_root(self.version) / self.name
        if self.version == 2:
            # v2: each level hands the controllers down to its children (verified on v1 hosts only).
            node = CGROUP_ROOT
            for part in [*Path(self.name).parts, None]:
                for controller in ("pids", "memory", "cpu"):
                    try:
                        (node / "cgroup.subtree_control").write_text(f"+{controller}")
                    except OSError:
                        pass
                if part is not None:
                    node = node / part
                    node.mkdir(exist_ok=True)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "pids.max").write_text(str(self.pids_max) if self.pids_max else "max")
        return True

    def hit_pids_limit(self) -> bool:
        if not self.pids_max or self.version is None:
            return False
        directory = _pids_root(self.version) / self.name
        try:
            events = dict(line.split() for line in (directory / "pids.events").read_text().splitlines())
            if int(events.get("max", "0")) > 0:
                return True
            return int((directory / "pids.peak").read_text()) >= self.pids_max
        except (OSError, ValueError):
            return False

    def remove(self) -> None:
        """Kills whatever is left in it, then removes this build's cgroup directories in every hierarchy."""
        if self.version is not None:
            _kill_and_remove(self.version, self.name)


CGROUP_PARENT = "imagefactory"
_OWNER = re.compile(r"^w(\d+)-")


def _pids_root(version: int) -> Path:
    return CGROUP_ROOT if version == 2 else CGROUP_ROOT / "pids"


def _processes(directory: Path) -> list[int]:
    pids = []
    for procs in directory.glob("**/cgroup.procs"):
        try:
            pids += [int(pid) for pid in procs.read_text().split()]
        except (OSError, ValueError):
            continue
    return pids


def _kill_and_remove(version: int, name: str) -> None:
    directory = _pids_root(version) / name
    for _ in range(5):  # what forks while we kill gets the next round
        pids = _processes(directory) if directory.exists() else []
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    hierarchies = [CGROUP_ROOT] if version == 2 else [h for h in CGROUP_ROOT.iterdir() if h.is_dir()]
    for hierarchy in hierarchies:
        for leftover in sorted((hierarchy / name).glob("**/"), key=lambda p: len(p.parts), reverse=True):
            try:
                os.rmdir(leftover)
            except OSError:
                pass


def kill_orphaned_cgroups() -> int:
    """Kills the RUN steps of builds whose worker died, and removes their cgroups; returns how many builds."""
    version = cgroup_version()
    if version is None:
        return 0
    parent = _pids_root(version) / CGROUP_PARENT
    killed = 0
    for directory in parent.iterdir() if parent.is_dir() else []:
        owner = _OWNER.match(directory.name)
        if owner is None or alive(int(owner[1])):
            continue
        _kill_and_remove(version, f"{CGROUP_PARENT}/{directory.name}")
        killed += 1
    return killed
