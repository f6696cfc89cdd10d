"""Fixtures of the CLI's end-to-end tests: the real `imagefactory` command against a running Stack."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading

import pytest

from testing import ROOT, TcpProxy, run_step, unique_token

CREATED = re.compile(r"build #\d+ ([0-9a-f-]{36}) created")


class RunningCli:
    """`imagefactory ...` running in the background; its stdout read line by line as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self.stdout_lines: list[str] = []
        self.stderr_text = ""
        self._arrivals: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self.stdout_lines.append(line.rstrip("\n"))
            self._arrivals.put(line.rstrip("\n"))
        self._arrivals.put(None)

    def _read_stderr(self) -> None:
        self.stderr_text = self.process.stderr.read()

    def wait_for_line(self, text: str, timeout: float = 180) -> None:
        """Until a stdout line contains `text` (fails if the command ends first)."""
        while True:
            try:
                line = self._arrivals.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout}s; got {self.stdout_lines}") from None
            if line is None:
                raise AssertionError(f"the CLI ended before printing {text!r}: {self.finish()}")
            if text in line:
                return

    def finish(self, timeout: float = 300) -> CliResult:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        return CliResult(self.process.returncode, self.stdout_lines, self.stderr_text)


class CliResult:
    def __init__(self, code: int, stdout_lines: list[str], stderr: str):
        self.code = code
        self.lines = stdout_lines
        self.stdout = "\n".join(stdout_lines)
        self.stderr = stderr

    @property
    def created_build_id(self) -> str:
        match = CREATED.search(self.stderr)
        assert match, f"no 'build … created' note on stderr: {self.stderr}"
        return match.group(1)

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Cli:
    """Runs `python -m imagefactory.cli` as a CI job would: configured by IMAGEFACTORY_* variables."""

    def __init__(self, url: str, token: str, tenant: str):
        self.url = url
        self.token = token
        self.tenant = tenant

    def env(self, url: str | None = None, **variables: str | None) -> dict[str, str]:
        """The job's environment; IMAGEFACTORY_<NAME> from `variables` (None: unset)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEFACTORY_")}
        chosen = {"url": url or self.url, "token": self.token, "tenant": self.tenant} | variables
        env |= {f"IMAGEFACTORY_{name.upper()}": value for name, value in chosen.items() if value is not None}
        return env

    def argv(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "imagefactory.cli", *args]

    def start(self, *args: str, url: str | None = None, **variables: str | None) -> RunningCli:
        return RunningCli(self.argv(args), self.env(url, **variables))

    def run(self, *args: str, url: str | None = None, timeout: float = 300, **variables: str | None) -> CliResult:
        return self.start(*args, url=url, **variables).finish(timeout=timeout)


@pytest.fixture
def cli(stack, member_client) -> Cli:
    """The CLI as the tenant's owner, against the session's Stack (directly, no proxy)."""
    return Cli(stack.base_url + "/api/v1", member_client.token, member_client.tenant_id)


@pytest.fixture
def proxy(stack):
    """A TcpProxy in front of the session's Stack (its .url goes to IMAGEFACTORY_URL)."""
    running = TcpProxy(stack.port)
    yield running
    running.close()


@pytest.fixture
def cli_pipeline(engine_project, git_repo, buildah):
    """cli_pipeline(*shell commands, build_args=()) -> (project id, commit) whose Dockerfile RUNs them.

    One project per test, pushing to the test registry; every call commits a fresh Dockerfile (a
    unique token defeats the layer cache) on the test's own repository.
    """
    project = engine_project()

    def make(*commands: str, build_args: tuple[str, ...] = ()) -> tuple[str, str]:
        token = unique_token()
        args = "".join(f"ARG {name}\n" for name in build_args)
        body = args + "\n".join(run_step(f"echo run-{token}; {command}") for command in commands)
        return str(project.pk), git_repo.commit_dockerfile(body, message=f"cli {token}")

    return make
