"""Pure validation rules: git ref names, repository URLs, in-repository paths, image names."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

_REF_FORBIDDEN_CHARS = set(" ~^:?*[\\")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEX_COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}$")  # a SHA-1 (40) or SHA-256 (64) object name, or a prefix
_SSH_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!/)[^\s]+$")
_URL = re.compile(r"^(?P<scheme>https|ssh|file)://(?P<rest>[^\s]+)$")
# registry host[:port]/path components, lowercase, no tag or digest.
_IMAGE_REPOSITORY = re.compile(
    r"^(?:(?P<host>[A-Za-z0-9.-]+(?::[0-9]{1,5})?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$"
)


def branch_name_error(name: str) -> str | None:
    """Why `name` fails `git check-ref-format --branch`, or None when it is valid."""
    if not 1 <= len(name) <= 255:
        return "Must be 1-255 characters."
    if name in ("@", "HEAD"):
        return f"Must not be '{name}'."
    if name.startswith("-"):
        return "Must not start with '-'."
    if name.startswith("/") or name.endswith("/"):
        return "Must not start or end with '/'."
    if name.endswith(".") or name.endswith(".lock"):
        return "Must not end with '.' or '.lock'."
    if ".." in name or "//" in name or "@{" in name:
        return "Must not contain '..', '//' or '@{'."
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "Must not contain control characters."
    if _REF_FORBIDDEN_CHARS & set(name):
        return "Must not contain spaces or any of ~ ^ : ? * [ \\."
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return "No path component may start with '.' or end with '.lock'."
    return None


def commit_error(value: str) -> str | None:
    return None if _HEX_COMMIT.fullmatch(value) else "Must be 7-64 hexadecimal characters."


_SECRET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def secret_name_error(name: str) -> str | None:
    return None if _SECRET_NAME.fullmatch(name) else "Must be 1-64 of A-Z, a-z, 0-9, '_', '.', '-'."


def env_name_error(name: str) -> str | None:
    return None if _ENV_NAME.fullmatch(name) else "Must be a valid environment variable name."


def repository_url_error(url: str, *, file_roots: Sequence[str]) -> str | None:
    if _SSH_SCP.match(url):
        return None
    match = _URL.match(url)
    if match is None:
        return "Must be an https://, ssh:// or git@host:path repository URL."
    if match["scheme"] == "file":
        return file_repository_error(match["rest"], file_roots)
    userinfo = match["rest"].split("/", 1)[0].rpartition("@")[0]
    if (match["scheme"] == "https" and userinfo) or ":" in userinfo:
        return "Must not contain credentials; set git_username and git_password (stored encrypted) instead."
    if "/" not in match["rest"].strip("/"):
        return "Must name a repository path on the host."
    return None


def file_repository_error(rest: str, file_roots: Sequence[str]) -> str | None:
    """A file:// repository must lie under a directory the operator listed in FILE_REPOSITORY_ROOTS:
    otherwise any tenant could clone any git repository the server can read."""
    if not file_roots:
        return "file:// repositories are disabled on this server (FILE_REPOSITORY_ROOTS is empty)."
    path = rest.removeprefix("localhost")
    if not path.startswith("/") or "%" in path or ".." in path.split("/"):
        return "Must be an absolute file:///path without '..' or percent-escapes."
    normalized = posixpath.normpath(path)
    for root in file_roots:
        root = posixpath.normpath(root)
        if normalized == root or normalized.startswith(root.rstrip("/") + "/"):
            return None
    return "file:// repositories are allowed only under the server's FILE_REPOSITORY_ROOTS."


def relative_path_error(path: str) -> str | None:
    """The path must stay inside the repository checkout."""
    if not path or "\x00" in path or path.startswith("/") or "\\" in path:
        return "Must be a relative path inside the repository."
    normalized = posixpath.normpath(path)
    if normalized == ".." or normalized.startswith("../"):
        return "Must not leave the repository."
    return None


def image_repository_error(value: str) -> str | None:
    if "@" in value:
        return "Must not contain a digest."
    match = _IMAGE_REPOSITORY.fullmatch(value)
    if match is None:
        last = value.rsplit("/", 1)[-1]
        if ":" in last:
            return "Must not contain a tag; tags are set per build."
        return "Must be an image reference without tag, e.g. registry.example.com/team/app."
    return None


def repository_host(url: str) -> str:
    """The host (and port) a repository URL sends credentials to; "" for file:// repositories."""
    scp = _SSH_SCP.match(url)
    if scp:
        return url.split("@", 1)[1].split(":", 1)[0].lower()
    match = _URL.match(url)
    if match is None or match["scheme"] == "file":
        return ""
    return match["rest"].split("/", 1)[0].rpartition("@")[2].lower()


def registry_host(image_repository: str) -> str:
    """The registry part of a repository reference ("docker.io" when none is named)."""
    first, _, rest = image_repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def tag_safe(value: str) -> str:
    """A branch name made into a valid image tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", value)
    tag = re.sub(r"^[.-]+", "", tag)
    return (tag or "branch")[:128]
