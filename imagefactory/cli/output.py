"""What the CLI writes: results and log lines on stdout, everything else on stderr.

stdout stays clean for scripts (log messages, tables, or with --json one JSON document per line);
notes, retries and errors go to stderr. A progress line is drawn on stderr only when stderr is a
terminal: in a CI log it would be noise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from imagefactory.cli.client import ApiError

CLEAR_LINE = "\r\033[K"


class Output:
    def __init__(self, *, json_mode: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None):
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.interactive = _isatty(self.stderr)
        self._progress_shown = False
        self._progress_text = ""

    # --- stdout ------------------------------------------------------------------------------
    def document(self, data: Any) -> None:
        self._write(self.stdout, json.dumps(data, sort_keys=True) + "\n")

    def text(self, line: str) -> None:
        self._write(self.stdout, line + "\n")

    def log_line(self, message: dict[str, Any]) -> None:
        """A build log line: its text, or with --json the whole LogMessage."""
        if self.json_mode:
            self.document(message)
        else:
            self.text(str(message.get("message", "")))

    def table(self, rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
        cells = [[str(h) for h in headers], *[["" if v is None else str(v) for v in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for row in cells:
            self.text("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())

    # --- stderr ------------------------------------------------------------------------------
    def note(self, message: str) -> None:
        self._write(self.stderr, f"imagefactory: {message}\n")

    def error(self, error: ApiError) -> None:
        if self.json_mode:
            self._write(self.stderr, json.dumps({"error": error.as_dict()}, sort_keys=True) + "\n")
            return
        where = []
        if error.status is not None:
            where.append(f"HTTP {error.status}")
        if error.code:
            where.append(error.code)
        if error.trace_id:
            where.append(f"trace_id {error.trace_id}")
        suffix = f" ({', '.join(where)})" if where else ""
        self._write(self.stderr, f"imagefactory: error: {error.message}{suffix}\n")
        if isinstance(error.details, dict) and error.details:
            for field, detail in error.details.items():
                self._write(self.stderr, f"  {field}: {detail}\n")

    def progress(self, text: str) -> None:
        """Redraws the one progress line (terminal only)."""
        if not self.interactive:
            return
        self._progress_text = text
        self.stderr.write(CLEAR_LINE + text)
        self.stderr.flush()
        self._progress_shown = True

    def clear_progress(self) -> None:
        if self._progress_shown:
            self.stderr.write(CLEAR_LINE)
            self.stderr.flush()
            self._progress_shown = False

    def _write(self, stream: TextIO, text: str) -> None:
        # The progress line shares the terminal: lift it, write, then draw it again below.
        had_progress = self._progress_shown
        self.clear_progress()
        stream.write(text)
        stream.flush()
        if had_progress:
            self.progress(self._progress_text)


def progress_text(build: dict[str, Any], status: dict[str, Any] | None = None) -> str:
    """`#12 in_progress  step 3/7 (42%)  build` from a build (and its /status answer when known)."""
    parts = [f"#{build.get('build_number', '?')}", str((status or build).get("status", "?"))]
    progress = (status or {}).get("progress") or {}
    current = progress.get("current_step", build.get("current_step"))
    total = progress.get("total_steps", build.get("total_steps"))
    if total:
        percent = progress.get("percentage")
        parts.append(f"step {current}/{total}" + (f" ({percent}%)" if percent is not None else ""))
    if build.get("step_name"):
        parts.append(str(build["step_name"]))
    return "  ".join(parts)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
