"""Running a command as its own process tree, line by line, and stopping the whole tree."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from builds.executors.base import BuildInterrupted, BuildPlatformError


def _stat(pid: int | str) -> list[bytes] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def _live_stats() -> list[tuple[int, list[bytes]]]:
    return [(int(entry), fields) for entry in os.listdir("/proc")
            if entry.isdigit() and (fields := _stat(entry)) is not None]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, fields in _live_stats():
        children.setdefault(int(fields[1]), []).append(pid)
    return children


def descendants(pid: int) -> list[int]:
    """pid and every process below it, even those that started a session of their own."""
    tree, found, todo = _children_map(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != b"Z"


# Marks every process a build starts with the worker's pid (see kill_orphaned_processes).
OWNER_ENV = "IMAGEFACTORY_WORKER_PID"


class ProcessRunner:
    """Runs commands one at a time; `stop()` from any thread ends the current tree."""

    def __init__(self, grace_seconds: float):
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self.stopped = False

    def run(self, argv: Sequence[str], *, on_line: Callable[[str], None], cwd: Path | None = None,
            env: dict[str, str] | None = None) -> int:
        with self._lock:
            if self.stopped:
                raise BuildInterrupted()
            env = {**(os.environ if env is None else env), OWNER_ENV: str(os.getpid())}
            try:
                self._process = subprocess.Popen(
                    list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise BuildPlatformError(f"{argv[0]} is not installed on this worker") from exc
        process = self._process
        assert process.stdout is not None
        for raw in process.stdout:
            on_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        code = process.wait()
        with self._lock:
            self._process = None
            if self.stopped:
                raise BuildInterrupted()
        return code

    def stop(self) -> None:
        """SIGTERM the tree, SIGKILL what is left after the grace period.

        The process group is signalled too: it still holds children whose parent already
        exited (and which may keep the output pipe, and so run(), open).
        """
        with self._lock:
            self.stopped = True
            process = self._process
        if process is None:
            return
        pids = descendants(process.pid) if process.poll() is None else []
        _signal_group(process.pid, signal.SIGTERM)
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        while time.monotonic() < deadline:
            if not any(_alive(pid) for pid in pids) and not _group_alive(process.pid):
                return
            time.sleep(0.05)
        for _ in range(3):  # children may have forked meanwhile
            pids = sorted(set(pids) | set(descendants(process.pid)))
            _signal_group(process.pid, signal.SIGKILL)
            _signal_all(pids, signal.SIGKILL)
            time.sleep(0.05)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    return any(int(fields[2]) == pgid and fields[0] != b"Z" for _, fields in _live_stats())


def kill_orphaned_processes() -> int:
    """SIGKILLs build processes whose worker died (SIGKILL, OOM, crash) and left them running.

    Every build command carries OWNER_ENV=<worker pid>; a tree whose owner is gone is an orphan.
    Runs on each host at worker start and on every reaper pass.
    """
    marker = f"{OWNER_ENV}=".encode()
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
        except OSError:
            continue
        owner = next((v[len(marker):] for v in variables if v.startswith(marker)), None)
        if owner is None or not owner.isdigit() or _alive(int(owner)):
            continue
        pid = int(entry)
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        _signal_group(pgid, signal.SIGKILL)
        _signal_all(descendants(pid), signal.SIGKILL)
        killed += 1
    return killed
