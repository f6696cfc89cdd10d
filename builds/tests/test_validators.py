"""Pure validation rules, with branch names cross-checked against the real git binary."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from builds import validators
from testing import need

VALID_BRANCHES = [
    "main",
    "feature/x",
    "release-1.2",
    "a",
    "a/b/c",
    "a.b",
    "a-",
    "_x",
    "x/-y",
    "x@",
    "@x",
    "a@b",
    "refs/heads/x",
    "fëature",
    "v1.0.0-rc.1",
    "user/JIRA-123_fix",
    "x" * 255,
    "1234567",
]
INVALID_BRANCHES = {
    "": "empty",
    "x" * 256: "too long",
    "a..b": "double dot",
    "a b": "space",
    "a\tb": "tab (control)",
    "a\x01b": "control char",
    "a\x7fb": "DEL",
    "a~b": "tilde",
    "a^b": "caret",
    "a:b": "colon",
    "a?b": "question mark",
    "a*b": "asterisk",
    "a[b": "open bracket",
    "a\\b": "backslash",
    "-a": "leading dash",
    "/a": "leading slash",
    "a/": "trailing slash",
    "a.lock": "trailing .lock",
    "a.lock/b": "component ending .lock",
    "a/.lock": "component .lock",
    "a@{b": "@{",
    "@{-1}": "@{ at start",
    "@": "exactly @",
    "a//b": "double slash",
    "a.": "trailing dot",
    ".hidden": "leading dot",
    "feature/.x": "component starting with a dot",
    "HEAD": "HEAD is not a branch name",
}


@pytest.mark.parametrize("name", VALID_BRANCHES)
def test_valid_branch_names(name):
    assert validators.branch_name_error(name) is None


@pytest.mark.parametrize("name", list(INVALID_BRANCHES), ids=list(INVALID_BRANCHES.values()))
def test_invalid_branch_names(name):
    assert validators.branch_name_error(name)


def _git_accepts(name: str) -> bool:
    result = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, cwd="/")
    return result.returncode == 0


def _fuzz_names(count: int) -> list[str]:
    rng = random.Random(20240115)  # fixed: the same names on every run
    alphabet = [
        "a",
        "b",
        "1",
        "-",
        "_",
        ".",
        "..",
        "/",
        "@",
        "{",
        "}",
        "~",
        "^",
        ":",
        "?",
        "*",
        "[",
        "\\",
        " ",
        "\x01",
        "\x7f",
        "ë",
        "lock",
        ".lock",
        "HEAD",
    ]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(count)]


# git's --branch treats "@" as HEAD's branch; the issue forbids "@" outright (`git branch @` refuses it).
CROSS_CHECKED = [
    n for n in VALID_BRANCHES + list(INVALID_BRANCHES) + _fuzz_names(400) if 1 <= len(n) <= 255 and n != "@"
]


@pytest.mark.parametrize("name", sorted(set(CROSS_CHECKED)))
def test_branch_rules_agree_with_git_check_ref_format(name):
    need(shutil.which("git") is not None, "git is not installed")

    assert (validators.branch_name_error(name) is None) == _git_accepts(name), validators.branch_name_error(name)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("abc1234", True),
        ("ABCDEF0", True),
        ("0" * 40, True),
        ("abc123", False),
        ("0" * 64, True),  # a SHA-256 object name
        ("0" * 41, True),  # a prefix of one
        ("0" * 65, False),
        ("abc123g", False),
        ("", False),
        (" abc1234", False),
        ("abc1234\n", False),
    ],
)
def test_commit(value, ok):
    assert (validators.commit_error(value) is None) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("GREETING", True),
        ("_x", True),
        ("a1", True),
        ("1a", False),
        ("A-B", False),
        ("", False),
        ("A B", False),
        ("É", False),
        ("A\n", False),
    ],
)
def test_env_name(name, ok):
    assert (validators.env_name_error(name) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("registry.example.com/team/app", True),
        ("app", True),
        ("localhost:5000/app", True),
        ("app:latest", False),
        ("app@sha256:abc", False),
        ("App", False),
        ("app\n", False),
        ("team//app", False),
    ],
)
def test_image_repository(value, ok):
    assert (validators.image_repository_error(value) is None) is ok
