"""The clone step every executor shares: the repository at the branch (and commit) into workspace/src."""

from __future__ import annotations

import os
import subprocess
from collections import deque
from pathlib import Path

from builds.executors.base import BuildSpec, BuildUserError, DiskFull, Reporter, is_disk_full
from builds.executors.commands import StepCommands

STEP = "clone"


def tool_home(workspace: Path) -> Path:
    """The HOME of every tool a build runs: inside the workspace, removed with it."""
    home = workspace / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    return home


def ssh_command(spec: BuildSpec, workspace: Path, known_hosts: str = "") -> str:
    """ssh for git, reading nothing of the worker's own: no config, keys, agent or known hosts.

    OpenSSH finds ~/.ssh through the passwd entry, whatever $HOME says, so every file it would
    read there is named explicitly. `known_hosts` (SSH_KNOWN_HOSTS) pins host keys; without it a
    host's key is accepted on first use, per build.
    """
    hosts = workspace / "known_hosts"
    hosts.write_text(known_hosts)
    options = [
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        f"UserKnownHostsFile={hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        f"StrictHostKeyChecking={'yes' if known_hosts.strip() else 'accept-new'}",
    ]
    if spec.git_ssh_private_key:
        key = workspace / "id_key"
        key.write_text(spec.git_ssh_private_key.strip() + "\n")
        key.chmod(0o600)
        options += ["-i", str(key)]
    else:
        options += ["-o", "PubkeyAuthentication=no"]
    return " ".join(["ssh", *options])


def git_env(spec: BuildSpec, workspace: Path, known_hosts: str = "") -> dict[str, str]:
    """git's whole environment for this build: no system or global config, the project's credentials only."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tool_home(workspace)),
        "LANG": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_SSH_COMMAND": ssh_command(spec, workspace, known_hosts),
    }
    if spec.git_username or spec.git_password:
        askpass = workspace / "askpass.sh"
        askpass.write_text(
            '#!/bin/sh\ncase "$1" in\n  Username*) printf %s "$GIT_USER" ;;\n  *) printf %s "$GIT_PASS" ;;\nesac\n'
        )
        askpass.chmod(0o700)
        env.update(GIT_ASKPASS=str(askpass), GIT_USER=spec.git_username, GIT_PASS=spec.git_password)
    return env


def quiet_git(source: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A git query whose output is not part of the log."""
    return subprocess.run(["git", *args], cwd=source, env=env, capture_output=True, text=True)


def checkout(
    spec: BuildSpec, workspace: Path, commands: StepCommands, reporter: Reporter, known_hosts: str = ""
) -> Path:
    """Clones into workspace/src, checks out spec.git_commit if given, reports the commit; returns src."""
    source = workspace / "src"
    env = git_env(spec, workspace, known_hosts)
    reporter.progress(current_step=1, total_steps=None, step_name=STEP)
    reporter.line(f"Cloning {spec.repository_url} at branch {spec.git_branch}", step=STEP, step_name=STEP)
    tail: deque[str] = deque(maxlen=20)
    depth = "50" if spec.git_commit else "1"
    code = commands.run(
        [
            "git",
            "clone",
            "--depth",
            depth,
            "--single-branch",
            "--branch",
            spec.git_branch,
            "--no-tags",
            "--",
            spec.repository_url,
            str(source),
        ],
        step=STEP,
        step_name=STEP,
        env=env,
        tail=tail,
    )
    if code != 0:
        text = "\n".join(tail)
        if "not found in upstream" in text or "Could not find remote branch" in text:
            raise BuildUserError(f"step clone: branch '{spec.git_branch}' not found in {spec.repository_url}")
        if is_disk_full(text):
            raise DiskFull("step clone")
        reason = next((line for line in reversed(tail) if line.startswith("fatal:")), f"exit code {code}")
        raise BuildUserError(f"step clone: git clone failed: {reason}")
    if spec.git_commit:
        _checkout_commit(spec, spec.git_commit, source, env, commands, reporter)
    reporter.source_commit(quiet_git(source, env, "rev-parse", "HEAD").stdout.strip())
    return source


def _checkout_commit(
    spec: BuildSpec, commit: str, source: Path, env: dict[str, str], commands: StepCommands, reporter: Reporter
) -> None:
    branch = spec.git_branch
    resolved = quiet_git(source, env, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    if resolved.returncode != 0:
        reporter.line("Commit not in the shallow history; fetching the whole branch", step=STEP, step_name=STEP)
        commands.run(["git", "fetch", "--unshallow", "origin", branch], step=STEP, step_name=STEP, cwd=source, env=env)
        resolved = quiet_git(source, env, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    if resolved.returncode != 0:
        raise BuildUserError(f"step clone: commit {commit} not found on branch '{branch}'")
    full = resolved.stdout.strip()
    if quiet_git(source, env, "merge-base", "--is-ancestor", full, "HEAD").returncode != 0:
        raise BuildUserError(f"step clone: commit {commit} is not reachable from branch '{branch}'")
    code = commands.run(
        ["git", "checkout", "--quiet", "--detach", full], step=STEP, step_name=STEP, cwd=source, env=env
    )
    if code != 0:
        raise BuildUserError(f"step clone: could not check out commit {commit}")
