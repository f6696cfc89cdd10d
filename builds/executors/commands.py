"""One tool command as part of a build step: echoed to the log, its output classified, its tail kept."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from builds.executors.base import Reporter
from builds.executors.process import ProcessRunner

# Plain prefixes ("error:", "fatal:"), logrus on a terminal ("ERRO[0003] ") and logrus on a pipe ("level=error").
ERROR_LINE = re.compile(r"^(?:(?:error|fatal|Error|ERROR)\b[:\s]|(?:ERRO|FATA)\[\d+\]\s)|\blevel=(?:error|fatal)\b")
WARN_LINE = re.compile(r"^(?:(?:warning|Warning|WARN|WARNING)\b[:\s]|WARN\[\d+\]\s)|\blevel=warn(?:ing)?\b")


def classify(line: str) -> str:
    """The log level of a tool's output line."""
    if ERROR_LINE.search(line):
        return "ERROR"
    if WARN_LINE.search(line):
        return "WARN"
    return "INFO"


def last_error(tail: Sequence[str], default: str) -> str:
    """The last line of `tail` that reads as an error, else `default`."""
    return next((line for line in reversed(tail) if classify(line) == "ERROR"), default)


class StepCommands:
    """Runs a step's commands through one ProcessRunner (so one cancel stops whichever runs)."""

    def __init__(self, runner: ProcessRunner, reporter: Reporter):
        self.runner = runner
        self.reporter = reporter

    def run(
        self,
        argv: Sequence[str],
        *,
        step: str,
        step_name: str | Callable[[], str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        tail: deque[str] | None = None,
        on_line: Callable[[str], None] | None = None,
        shown: str | None = None,
    ) -> int:
        """Runs argv; every output line goes to the log. `shown` replaces the echoed command line."""

        def name() -> str:
            return step_name() if callable(step_name) else step_name

        self.reporter.line(f"$ {shown or ' '.join(argv)}", level="DEBUG", step=step, step_name=name())

        def handle(text: str, cut_bytes: int) -> None:
            if tail is not None:
                tail.append(text)
            if on_line is not None:
                on_line(text)
            self.reporter.line(text, level=classify(text), step=step, step_name=name(), cut_bytes=cut_bytes)

        return self.runner.run(argv, on_line=handle, cwd=cwd, env=env)
