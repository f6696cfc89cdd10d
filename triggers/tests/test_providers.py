"""The pure parts of a push hook: signatures, payload shapes, repository and branch matching."""

from __future__ import annotations

import json

import pytest

from triggers import providers
from triggers.tests.payloads import PAYLOADS, ZEROS, signed

SECRET = "s3cret-" + "a" * 57
COMMIT = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
REPO = "https://git.example.com/team/app.git"


@pytest.mark.parametrize("kind", providers.KINDS)
def test_a_correctly_signed_body_is_accepted(kind):
    body, headers = signed(kind, SECRET, PAYLOADS[kind](repository_url=REPO, commit=COMMIT))
    assert providers.signature_valid(kind, secret=SECRET, body=body, headers=headers)


@pytest.mark.parametrize("kind", providers.KINDS)
def test_another_secret_or_a_changed_body_is_refused(kind):
    body, headers = signed(kind, "another-secret", PAYLOADS[kind](repository_url=REPO, commit=COMMIT))
    assert not providers.signature_valid(kind, secret=SECRET, body=body, headers=headers)
    body, headers = signed(kind, SECRET, PAYLOADS[kind](repository_url=REPO, commit=COMMIT))
    if kind != "gitlab":  # GitLab's token does not cover the body
        assert not providers.signature_valid(kind, secret=SECRET, body=body + b" ", headers=headers)


@pytest.mark.parametrize("kind", providers.KINDS)
def test_missing_signature_headers_are_refused(kind):
    body, _ = signed(kind, SECRET, PAYLOADS[kind](repository_url=REPO, commit=COMMIT))
    assert not providers.signature_valid(kind, secret=SECRET, body=body, headers={})
    assert not providers.signature_valid(kind, secret="", body=body, headers={})


def test_a_github_signature_without_its_prefix_is_refused():
    body, headers = signed("github", SECRET, {"zen": "hi"}, event="ping")
    headers["X-Hub-Signature-256"] = headers["X-Hub-Signature-256"].removeprefix("sha256=")
    assert not providers.signature_valid("github", secret=SECRET, body=body, headers=headers)


@pytest.mark.parametrize("kind", providers.KINDS)
def test_every_shape_gives_branch_commit_repository_and_pusher(kind):
    data = providers.parse_body(json.dumps(PAYLOADS[kind](repository_url=REPO, commit=COMMIT.upper())).encode())
    push = providers.parse_push(kind, data)
    assert (push.branch, push.commit, push.deleted, push.is_tag) == ("main", COMMIT, False, False)
    assert REPO in push.repository_urls
    assert push.pusher


@pytest.mark.parametrize("kind", providers.KINDS)
def test_deletions_and_tags_are_recognised(kind):
    deleted = providers.parse_push(kind, PAYLOADS[kind](repository_url=REPO, commit=ZEROS))
    tag = providers.parse_push(kind, PAYLOADS[kind](repository_url=REPO, commit=COMMIT, ref="refs/tags/v1.0"))
    assert deleted.deleted and deleted.commit is None
    assert tag.is_tag and tag.branch is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"ref": "main", "after": "' + COMMIT.encode() + b'"}',
        b'{"ref": "refs/heads/x", "after": "xyz"}',
    ],
    ids=["not-json", "not-an-object", "ref-not-refs", "after-not-a-commit"],
)
def test_malformed_payloads_are_payload_errors(body):
    with pytest.raises(providers.PayloadError):
        providers.parse_push("github", providers.parse_body(body))


def test_githubs_form_encoding_is_understood():
    from urllib.parse import urlencode

    payload = json.dumps(PAYLOADS["github"](repository_url=REPO, commit=COMMIT))
    data = providers.parse_body(urlencode({"payload": payload}).encode(), "application/x-www-form-urlencoded")
    assert providers.parse_push("github", data).commit == COMMIT


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/team/app.git",
        "https://git.example.com/team/app",
        "https://git.example.com/team/app/",
        "https://ci-bot@git.example.com/team/app.git",
        "http://git.example.com:8080/Team/App",
        "ssh://git@git.example.com:2222/team/app.git",
        "git@git.example.com:team/app.git",
        "git://git.example.com/team/app",
    ],
)
def test_the_same_repository_whatever_the_scheme_user_port_suffix_or_case(url):
    assert providers.same_repository(REPO, [url])


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/team/app2.git",
        "https://git.example.com/other/app.git",
        "https://evil.example.com/team/app.git",
        "https://git.example.com/team/app/extra",
        "https://git.example.com/team",
        "",
    ],
)
def test_another_repository_does_not_match(url):
    assert not providers.same_repository(REPO, [url])


def test_file_urls_compare_by_path():
    assert providers.same_repository("file:///srv/repos/app", ["file:///srv/repos/app.git/"])
    assert not providers.same_repository("file:///srv/repos/app", ["file:///srv/repos/other"])


@pytest.mark.parametrize(
    ("branch", "patterns", "matches"),
    [
        ("main", ["main"], True),
        ("mainline", ["main"], False),
        ("release/1.0", ["release/*"], True),
        ("release/1.0/hotfix", ["release/*"], False),
        ("release/1.0/hotfix", ["release/**"], True),
        ("feature/x", ["*"], False),
        ("feature/x", ["**"], True),
        ("v1", ["v?"], True),
        ("a.b", ["a?b"], True),
        ("aXb", ["a.b"], False),
        ("dev", ["main", "dev"], True),
        ("dev", [], False),
    ],
)
def test_branch_globs(branch, patterns, matches):
    assert providers.branch_matches(branch, patterns) is matches
