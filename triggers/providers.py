"""What a git host's push hook says, as pure functions: signatures, events, branches, repositories.

No Django and no I/O here: the hook service (triggers/services.py) feeds these the raw body and
headers, and they are unit-tested alone. GitHub, GitLab, Gitea (Forgejo sends the same) and a
generic JSON shape of our own are understood.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

GITHUB, GITLAB, GITEA, GENERIC = "github", "gitlab", "gitea", "generic"
KINDS = (GITHUB, GITLAB, GITEA, GENERIC)
ZERO_SHA = re.compile(r"^0+$")

# name of the header carrying the delivery id, by kind (Forgejo also sends the Gitea names).
DELIVERY_HEADERS = {
    GITHUB: ("X-GitHub-Delivery",),
    GITLAB: ("X-Gitlab-Event-UUID",),
    GITEA: ("X-Gitea-Delivery", "X-Forgejo-Delivery"),
    GENERIC: ("X-ImageFactory-Delivery",),
}
EVENT_HEADERS = {
    GITHUB: ("X-GitHub-Event",),
    GITLAB: ("X-Gitlab-Event",),
    GITEA: ("X-Gitea-Event", "X-Forgejo-Event"),
    GENERIC: ("X-ImageFactory-Event",),
}
PING_EVENTS = {GITHUB: {"ping"}, GITLAB: set(), GITEA: set(), GENERIC: {"ping"}}
PUSH_EVENTS = {GITHUB: {"push"}, GITLAB: {"Push Hook", "Tag Push Hook"}, GITEA: {"push"}, GENERIC: {"push"}}


class PayloadError(ValueError):
    """The body is not the JSON shape the provider documents."""


@dataclass(frozen=True)
class Push:
    """One push as every provider describes it."""

    ref: str  # e.g. refs/heads/main, refs/tags/v1
    commit: str | None  # the new head; None for a deletion
    deleted: bool
    repository_urls: tuple[str, ...]  # every URL the payload names the repository by
    pusher: str

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")


def _header(headers: Mapping[str, str], names: Iterable[str]) -> str:
    for name in names:
        value = headers.get(name)
        if value:
            return value.strip()
    return ""


def delivery_id(kind: str, headers: Mapping[str, str]) -> str:
    return _header(headers, DELIVERY_HEADERS[kind])[:100]


def event_name(kind: str, headers: Mapping[str, str]) -> str:
    return _header(headers, EVENT_HEADERS[kind])[:100]


def is_ping(kind: str, event: str) -> bool:
    return event in PING_EVENTS[kind]


def is_push(kind: str, event: str) -> bool:
    return event in PUSH_EVENTS[kind]


# --- signatures -----------------------------------------------------------------------------


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(kind: str, *, secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """The provider's own proof that the sender knows the secret; every comparison constant-time."""
    if not secret:
        return False
    if kind == GITLAB:  # GitLab sends the secret itself, no HMAC
        token = headers.get("X-Gitlab-Token") or ""
        return hmac.compare_digest(token.encode(), secret.encode())
    if kind == GITEA:
        sent = _header(headers, ("X-Gitea-Signature", "X-Forgejo-Signature"))
        expected = hmac_sha256(secret, body)
    else:
        header = "X-Hub-Signature-256" if kind == GITHUB else "X-ImageFactory-Signature"
        sent = (headers.get(header) or "").strip()
        expected = "sha256=" + hmac_sha256(secret, body)
    return bool(sent) and hmac.compare_digest(sent.lower().encode(), expected.encode())


# --- payloads -------------------------------------------------------------------------------


def _dig(data: object, *path: str) -> object:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _text(data: object, *path: str) -> str:
    value = _dig(data, *path)
    return value if isinstance(value, str) else ""


def _urls(data: object, *paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(url for url in (_text(data, *path) for path in paths) if url)


def parse_body(body: bytes, content_type: str = "application/json") -> dict:
    """The payload: a JSON body, or GitHub's form encoding (`payload=<JSON>`)."""
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            body = (parse_qs(body.decode(), max_num_fields=10).get("payload") or [""])[0].encode()
        except (UnicodeDecodeError, ValueError):
            raise PayloadError("The form body has no `payload` field") from None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("The body is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("The body is not a JSON object")
    return data


def parse_push(kind: str, data: dict) -> Push:
    ref = _text(data, "ref")
    if not ref.startswith("refs/"):
        raise PayloadError("The payload has no `ref` (refs/heads/... or refs/tags/...)")
    after = _text(data, "after")
    if kind == GITHUB:
        urls = _urls(data, *[("repository", key) for key in ("clone_url", "html_url", "ssh_url", "git_url", "url")])
        pusher = _text(data, "pusher", "name") or _text(data, "sender", "login")
        deleted = _dig(data, "deleted") is True
    elif kind == GITEA:
        urls = _urls(data, *[("repository", key) for key in ("clone_url", "html_url", "ssh_url")])
        pusher = _text(data, "pusher", "login") or _text(data, "pusher", "username") or _text(data, "sender", "login")
        deleted = False
    elif kind == GITLAB:
        urls = _urls(
            data,
            ("project", "git_http_url"),
            ("project", "git_ssh_url"),
            ("project", "web_url"),
            ("repository", "git_http_url"),
            ("repository", "git_ssh_url"),
            ("repository", "homepage"),
            ("repository", "url"),
        )
        pusher = _text(data, "user_username") or _text(data, "user_name")
        deleted = False  # a deleted branch is an `after` of zeros, as with Gitea
    else:
        urls = _urls(data, ("repository_url",), ("repository", "url"), ("repository", "clone_url"))
        pusher = _text(data, "pusher") if isinstance(data.get("pusher"), str) else _text(data, "pusher", "name")
        deleted = _dig(data, "deleted") is True
    if after and ZERO_SHA.match(after):
        deleted = True
    if not deleted and not re.fullmatch(r"[0-9a-fA-F]{7,64}", after):
        raise PayloadError("The payload's `after` is not a commit id")
    return Push(
        ref=ref,
        commit=None if deleted else after.lower(),
        deleted=deleted,
        repository_urls=urls,
        pusher=pusher[:255],
    )


# --- matching -------------------------------------------------------------------------------

_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?!//)(?P<path>.*)$")


def normalise_repository(url: str) -> tuple[str, str]:
    """(host, path) of a repository URL, whatever its scheme, user, port, `.git` suffix or trailing slash.

    https://github.com/Org/App.git, git@github.com:org/app and ssh://git@github.com:22/org/app/
    are all ("github.com", "/org/app"); a file:// URL is ("", its path).
    """
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        host, path = (parts.hostname or ""), parts.path
    elif (match := _SCP.match(url)) is not None:
        host, path = match["host"], "/" + match["path"]
    else:
        host, path = "", url
    path = re.sub(r"/+", "/", path).rstrip("/")
    path = path.removesuffix(".git").rstrip("/")
    return host.lower(), path.lower()


def same_repository(project_url: str, payload_urls: Iterable[str]) -> bool:
    """True when any URL of the payload names the project's repository (and the project's has a path)."""
    wanted = normalise_repository(project_url)
    if not wanted[1]:
        return False
    return any(normalise_repository(url) == wanted for url in payload_urls)


def glob_regex(pattern: str) -> str:
    """A branch glob as a regular expression: `*` stays inside one path segment, `**` crosses them."""
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return "".join(out)


def branch_matches(branch: str, patterns: Iterable[str]) -> bool:
    return any(re.fullmatch(glob_regex(pattern), branch) for pattern in patterns)
