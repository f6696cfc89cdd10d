"""ProcessRunner: lines and exit codes, and stop() ending a whole process tree (setsid children too)."""

from __future__ import annotations

import os
import random
import subprocess
import threading

import pytest

from builds.executors.base import BuildInterrupted, BuildPlatformError
from builds.executors.process import OWNER_ENV, ProcessRunner, descendants, kill_orphaned_processes
from testing import kill_processes_matching, processes_matching, wait_until


@pytest.fixture
def sleeps():
    """sleeps(n) -> n `sleep 60.<random>` commands only this test runs; leftovers are killed at the end."""
    made: list[str] = []

    def make(count: int) -> list[str]:
        made.extend(f"sleep 60.{random.randrange(10**5, 10**6)}" for _ in range(count))
        return made[-count:]

    yield make
    for command in made:
        kill_processes_matching(command)


def running(command: str) -> list[int]:
    """pids of processes that are exactly `command` (not the shells whose scripts mention it)."""
    return [pid for pid, cmdline in processes_matching(command) if cmdline == command]


def start_in_thread(runner: ProcessRunner, argv: list[str]) -> tuple[threading.Thread, dict]:
    outcome: dict = {"lines": []}

    def target() -> None:
        try:
            outcome["code"] = runner.run(argv, on_line=lambda line, cut: outcome["lines"].append(line))
        except BaseException as exc:  # noqa: BLE001 — handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_run_returns_lines_and_exit_code():
    lines: list[str] = []

    code = ProcessRunner(grace_seconds=1).run(
        ["sh", "-c", "echo out; echo err >&2; exit 3"], on_line=lambda line, cut: lines.append(line)
    )

    assert code == 3
    assert sorted(lines) == ["err", "out"]


def test_missing_program_is_a_platform_error():
    with pytest.raises(BuildPlatformError, match="no-such-program-here is not installed"):
        ProcessRunner(grace_seconds=1).run(["no-such-program-here"], on_line=lambda line, cut: None)


@pytest.mark.parametrize("shape", ["background and foreground", "setsid child", "ignores SIGTERM"])
def test_stop_kills_the_whole_tree(sleeps, shape):
    first, second = sleeps(2)
    script = {
        "background and foreground": f"echo ready; {first} & {second}",
        "setsid child": f"setsid {first} & echo ready; {second}",
        "ignores SIGTERM": f"trap '' TERM; {first} & echo ready; {second}",
    }[shape]
    runner = ProcessRunner(grace_seconds=1)
    thread, outcome = start_in_thread(runner, ["sh", "-c", script])
    wait_until(lambda: len(running(first)) == 1 and len(running(second)) == 1, timeout=10, what="both sleeps to run")
    if shape == "setsid child":
        (pid,) = running(first)
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        assert fields[3] == str(pid), "the child should lead a session of its own"

    runner.stop()

    wait_until(
        lambda: not processes_matching(first) and not processes_matching(second),
        timeout=5,
        what="the whole tree to be gone",
    )
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), BuildInterrupted), outcome
    assert outcome["lines"] == ["ready"]


def test_stop_before_run_refuses_to_start():
    runner = ProcessRunner(grace_seconds=1)
    runner.stop()

    with pytest.raises(BuildInterrupted):
        runner.run(["true"], on_line=lambda line, cut: None)


def test_descendants_include_grandchildren(sleeps):
    (command,) = sleeps(1)
    runner = ProcessRunner(grace_seconds=1)
    thread, _ = start_in_thread(runner, ["sh", "-c", f"sh -c '{command}; true'; true"])
    (pid,) = wait_until(lambda: running(command), timeout=10, what="the grandchild")
    top = runner._process.pid

    assert pid in descendants(top) and top in descendants(top)

    runner.stop()
    thread.join(timeout=5)


def test_stop_ends_run_even_when_an_orphan_still_holds_the_output_pipe(sleeps):
    (command,) = sleeps(1)
    runner = ProcessRunner(grace_seconds=1)
    thread, outcome = start_in_thread(runner, ["sh", "-c", f"{command} & echo ready; exit 0"])
    wait_until(lambda: running(command) and outcome["lines"] == ["ready"], timeout=10, what="the orphan")

    runner.stop()

    thread.join(timeout=5)
    assert not thread.is_alive(), "run() must not stay blocked on the orphan's pipe"
    assert isinstance(outcome.get("error"), BuildInterrupted), outcome
    wait_until(lambda: not processes_matching(command), timeout=5, what="the orphan to be gone")


def test_processes_of_a_dead_worker_are_killed_and_a_live_workers_are_not(sleeps):
    orphaned, owned = sleeps(2)
    dead = subprocess.Popen(["true"])
    dead.wait()
    started = [
        subprocess.Popen(
            ["sh", "-c", f"{orphaned}; true"], start_new_session=True, env={**os.environ, OWNER_ENV: str(dead.pid)}
        ),
        subprocess.Popen(
            ["sh", "-c", f"{owned}; true"], start_new_session=True, env={**os.environ, OWNER_ENV: str(os.getpid())}
        ),
    ]
    wait_until(lambda: running(orphaned) and running(owned), timeout=10, what="both sleeps")

    assert kill_orphaned_processes() >= 1

    wait_until(lambda: not processes_matching(orphaned), timeout=5, what="the orphan to be killed")
    assert running(owned), "a process whose worker is alive must be left alone"
    for process in started:
        process.kill()
        process.wait()
