"""git's environment for a build: the project's credentials only, nothing of the worker's own.

ssh and git are asked what they would really use (`ssh -G`, `git config --list`, git's own
credential prompt), not what our strings say.
"""

from __future__ import annotations

import shlex
import subprocess

import pytest

from builds.executors.base import BuildSpec
from builds.executors.git import git_env


def spec(**fields) -> BuildSpec:
    fields.setdefault("repository_url", "ssh://git@git.example.com/team/app.git")
    return BuildSpec(
        tenant_id="t",
        build_id="b",
        build_number=1,
        git_branch="main",
        git_commit=None,
        default_branch="main",
        dockerfile_path="Dockerfile",
        build_context=".",
        **fields,
    )


def ssh_resolves(env: dict[str, str], host: str = "git.example.com") -> dict[str, list[str]]:
    """What ssh would do for `host` with the build's GIT_SSH_COMMAND (`ssh -G` prints the final config)."""
    argv = shlex.split(env["GIT_SSH_COMMAND"])
    printed = subprocess.run([*argv, "-G", host], env=env, capture_output=True, text=True, check=True).stdout
    resolved: dict[str, list[str]] = {}
    for line in printed.splitlines():
        key, _, value = line.partition(" ")
        resolved.setdefault(key, []).append(value)
    return resolved


def test_https_credentials_reach_git_through_askpass_not_the_command_line(tmp_path):
    """git's own credential prompt (what `git clone` of a private https repository runs) gets them."""
    env = git_env(
        spec(
            repository_url="https://git.example.com/team/app.git",
            git_username="deploy-bot",
            git_password="pa ss'w\"ord",
        ),
        tmp_path,
    )

    asked = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=git.example.com\n\n",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert "username=deploy-bot\n" in asked.stdout and "password=pa ss'w\"ord\n" in asked.stdout
    assert "pa ss" not in env["GIT_ASKPASS"] and "pa ss" not in (tmp_path / "askpass.sh").read_text()


def test_an_ssh_key_is_written_private_and_is_the_only_identity(tmp_path):
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"

    resolved = ssh_resolves(git_env(spec(git_ssh_private_key=key), tmp_path))

    key_file = tmp_path / "id_key"
    assert key_file.read_text() == key + "\n" and key_file.stat().st_mode & 0o777 == 0o600
    assert resolved["identityfile"] == [str(key_file)]
    assert resolved["identitiesonly"] == ["yes"] and resolved["pubkeyauthentication"] == ["true"]
    assert not (tmp_path / "src").exists()  # outside the checkout, so never in a build context


def test_without_a_key_ssh_offers_no_key_at_all(tmp_path):
    """OpenSSH finds ~/.ssh through the passwd entry, whatever HOME says: the worker's keys must stay unused."""
    resolved = ssh_resolves(git_env(spec(), tmp_path))

    assert resolved["pubkeyauthentication"] == ["false"]
    assert resolved["identityagent"] == ["none"] and resolved["batchmode"] == ["yes"]


@pytest.mark.parametrize("pinned", ["", "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedKeyForTests"])
def test_known_hosts_are_the_builds_own(tmp_path, pinned):
    resolved = ssh_resolves(git_env(spec(), tmp_path, known_hosts=pinned))

    assert resolved["userknownhostsfile"] == [str(tmp_path / "known_hosts")]
    assert resolved["globalknownhostsfile"] == ["/dev/null"]
    assert resolved["stricthostkeychecking"] == (["true"] if pinned else ["accept-new"])
    assert (tmp_path / "known_hosts").read_text() == pinned


def test_no_system_or_global_git_config_applies(tmp_path):
    """A worker's /etc/gitconfig or ~/.gitconfig (an insteadOf, a credential helper) reaches no build."""
    planted = tmp_path / "planted.gitconfig"
    planted.write_text('[url "https://attacker.example/"]\n\tinsteadOf = https://git.example.com/\n')
    env = git_env(spec(), tmp_path)

    listed = subprocess.run(
        ["git", "config", "--list", "--show-origin"],
        env={**env, "GIT_CONFIG_SYSTEM": str(planted)},
        capture_output=True,
        text=True,
    )

    assert "attacker" not in listed.stdout, listed.stdout
    assert env["HOME"].startswith(str(tmp_path)) and env["GIT_CONFIG_GLOBAL"] == "/dev/null"
    assert set(env) <= {
        "PATH",
        "HOME",
        "LANG",
        "GIT_TERMINAL_PROMPT",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_GLOBAL",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "GIT_USER",
        "GIT_PASS",
    }
