"""Running a command as its own process tree, line by line, and stopping the whole tree."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import psutil

from builds.executors.base import BuildInterrupted, BuildPlatformError

# Marks every process a build starts with the worker's pid (see kill_orphaned_processes).
OWNER_ENV = "IMAGEFACTORY_WORKER_PID"


def descendants(pid: int) -> list[int]:
    """pid and every process below it, even those that started a session of their own."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [pid, *(child.pid for child in children)]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return False


def read_lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[str, int]]:
    """(line, bytes cut off it) for each line of `stream`; no line is held longer than max_line_bytes.

    A longer line keeps its first max_line_bytes; the rest is read in chunks and thrown away, so one
    200 MB line costs no more memory than a short one.
    """
    while True:
        chunk = stream.readline(max_line_bytes + 1)
        if not chunk:
            return
        cut = 0
        if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
            chunk, cut = chunk[:max_line_bytes], len(chunk) - max_line_bytes
            while True:
                rest = stream.readline(1 << 16)
                cut += len(rest.rstrip(b"\r\n"))
                if not rest or rest.endswith(b"\n"):
                    break
        yield chunk.decode("utf-8", errors="replace").rstrip("\r\n"), cut


class ProcessRunner:
    """Runs commands one at a time; `stop()` from any thread ends the current tree."""

    def __init__(self, grace_seconds: float, max_line_bytes: int = 16 * 1024):
        self.grace_seconds = grace_seconds
        self.max_line_bytes = max_line_bytes
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def run(
        self,
        argv: Sequence[str],
        *,
        on_line: Callable[[str, int], None],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> int:
        """Runs argv; `on_line(line, bytes_cut)` gets each output line. Returns the exit code."""
        with self._lock:
            if self.stopped:
                raise BuildInterrupted()
            env = {**(os.environ if env is None else env), OWNER_ENV: str(os.getpid())}
            try:
                self._process = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise BuildPlatformError(f"{argv[0]} is not installed on this worker") from exc
            process = self._process
        assert process.stdout is not None
        for line, cut in read_lines(process.stdout, self.max_line_bytes):
            on_line(line, cut)
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
            if not any(alive(pid) for pid in pids) and not _group_alive(process.pid):
                return
            time.sleep(0.05)
        for _ in range(3):  # children may have forked meanwhile
            pids = sorted(set(pids) | set(descendants(process.pid)))
            _signal_group(process.pid, signal.SIGKILL)
            _signal_all(pids, signal.SIGKILL)
            time.sleep(0.05)


def kill_orphaned_processes() -> int:
    """SIGKILLs build processes whose worker died (SIGKILL, OOM, crash) and left them running.

    Every build command carries OWNER_ENV=<worker pid>; a tree whose owner is gone is an orphan.
    Runs on each host at worker start and on every janitor pass.
    """
    killed = 0
    for process in psutil.process_iter():
        try:
            owner = process.environ().get(OWNER_ENV)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
        if owner is None or not owner.isdigit() or alive(int(owner)):
            continue
        try:
            pgid = os.getpgid(process.pid)
        except ProcessLookupError:
            continue
        _signal_group(pgid, signal.SIGKILL)
        _signal_all(descendants(process.pid), signal.SIGKILL)
        killed += 1
    return killed
