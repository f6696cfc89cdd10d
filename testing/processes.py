"""Finding and killing the processes a test left behind."""

from __future__ import annotations

import os
import signal


def processes_matching(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose command line contains `text`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != b"Z":
            found.append((int(entry), cmdline))
    return found


def kill_processes_matching(text: str) -> None:
    """Test cleanup: SIGKILL whatever a test left running (its own unique token in `text`)."""
    for pid, _ in processes_matching(text):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
