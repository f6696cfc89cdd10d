"""Pure validation rules: git ref names, repository URLs, in-repository paths, image names."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

# Each rule is ONE regular expression, written to mean the same in Python (`re.fullmatch`) and in
# ECMA-262 (JSON Schema's `pattern`): the validators below and the OpenAPI document both use it.
# So no named groups, no `.` (Python's matches \r and \u2028, ECMA's does not) and no `\s`
# (the two disagree on \x1c-\x1f, \x85 and \ufeff): WHITESPACE spells out the union of both.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ANY = r"[\s\S]"
_NOT_SPACE = rf"[^{WHITESPACE}]"

# `git check-ref-format --branch`: no '..', '//', '@{', control characters, space or any of
# ~^:?*[\ ; no component starting with '.' or ending with '.lock'; not '@' or 'HEAD'; no leading
# '-'; no leading or trailing '/', no trailing '.'. Length 1-255 (BRANCH_MAX_LENGTH).
BRANCH_NAME = (
    rf"^(?!{_ANY}*(?:\.\.|//|@\{{|\.lock/|/\.))(?!{_ANY}*\.lock$)(?!(?:@|HEAD)$)(?![-/.])"
    r"[^\x00-\x20\x7f~^:?*\[\\]+(?<![./])$"
)
BRANCH_MAX_LENGTH = 255
# A SHA-1 (40) or SHA-256 (64) object name, or a prefix of one of at least 7 (the guide's 7-40).
COMMIT = r"^[0-9a-fA-F]{7,64}$"
# Build argument names: what a shell accepts as an environment variable name.
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Build secret ids (RUN --mount=type=secret,id=NAME).
SECRET_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
# A name shown to people: anything but NUL, with at least one character that is not whitespace.
DISPLAY_NAME = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
# A path inside the checkout: relative, no backslash or NUL, and no '..' component at all.
RELATIVE_PATH = r"^(?!/)(?!(?:[^/]*/)*\.\.(?:/|$))[^\x00\\]+$"
# registry host[:port]/path components, lowercase, no tag or digest.
IMAGE_REPOSITORY = (
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)

# A host name or IPv4 address, and a port. No bracketed IPv6 literals: many URL parsers (Python's
# urlsplit among them) raise on a malformed one instead of refusing it, and git hosts have names.
_HOST = r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?"
# A path on the host with at least one character that is not a slash.
_REPOSITORY_PATH = rf"/{_NOT_SPACE}*[^/{WHITESPACE}]{_NOT_SPACE}*"
_HTTPS_URL = rf"https://{_HOST}{_REPOSITORY_PATH}"  # no user info: credentials go in git_username/git_password
_SSH_URL = rf"ssh://(?:[^/@:\[\]{WHITESPACE}]+@)?{_HOST}{_REPOSITORY_PATH}"
_SCP_URL = rf"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!/){_NOT_SPACE}+"
# Below a FILE_REPOSITORY_ROOTS directory: path components without '..', '%' or whitespace.
_FILE_PATH_TAIL = rf"(?:/(?!\.\.(?:/|$))[^/%{WHITESPACE}]*)"


def _regex_literal(text: str) -> str:
    """`text` matched literally; only escapes that Python and ECMA-262 (also in unicode mode) both accept."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


def _file_url(root: str) -> str:
    root = posixpath.normpath(root).rstrip("/")  # the root directory "/" becomes ""
    tail = f"{_FILE_PATH_TAIL}+" if not root else f"{_FILE_PATH_TAIL}*"
    return f"file://(?:localhost)?{_regex_literal(root)}{tail}"


def repository_url_pattern(*, file_roots: Sequence[str]) -> str:
    """The repository URLs this server accepts: https://, ssh://, git@host:path, and file:// under file_roots."""
    forms = [_HTTPS_URL, _SSH_URL, _SCP_URL, *(_file_url(root) for root in file_roots)]
    return "^(?:" + "|".join(forms) + ")$"


def _fullmatch(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def branch_name_error(name: str) -> str | None:
    """Why `name` fails `git check-ref-format --branch`, or None when it is valid."""
    if not 1 <= len(name) <= BRANCH_MAX_LENGTH:
        return f"Must be 1-{BRANCH_MAX_LENGTH} characters."
    if not _fullmatch(BRANCH_NAME, name):
        return (
            "Must be a valid git branch name: no spaces, control characters, '..', '//', '@{' or any of"
            " ~ ^ : ? * [ \\; no component starting with '.' or ending with '.lock'; not '@' or 'HEAD';"
            " not starting with '-' or '/', not ending with '/' or '.'."
        )
    return None


def commit_error(value: str) -> str | None:
    return None if _fullmatch(COMMIT, value) else "Must be 7-64 hexadecimal characters."


def secret_name_error(name: str) -> str | None:
    return None if _fullmatch(SECRET_NAME, name) else "Must be 1-64 of A-Z, a-z, 0-9, '_', '.', '-'."


def env_name_error(name: str) -> str | None:
    return None if _fullmatch(ENV_NAME, name) else "Must be a valid environment variable name."


def display_name_error(name: str) -> str | None:
    return None if _fullmatch(DISPLAY_NAME, name) else "Must not be blank."


def repository_url_error(url: str, *, file_roots: Sequence[str]) -> str | None:
    if _fullmatch(repository_url_pattern(file_roots=file_roots), url):
        return None
    if url.startswith("file://"):
        return file_repository_error(url.removeprefix("file://"), file_roots) or (
            "Must be a file:///path without '..', '%' or whitespace under the server's FILE_REPOSITORY_ROOTS."
        )
    authority = url.partition("://")[2].split("/", 1)[0]
    if (url.startswith("https://") and "@" in authority) or ":" in authority.rpartition("@")[0]:
        return "Must not contain credentials; set git_username and git_password (stored encrypted) instead."
    return "Must be an https://, ssh:// or git@host:path repository URL naming a repository path on the host."


def file_repository_error(rest: str, file_roots: Sequence[str]) -> str | None:
    """A file:// repository must lie under a directory the operator listed in FILE_REPOSITORY_ROOTS:
    otherwise any tenant could clone any git repository the server can read. (The reason for a
    refusal; what is accepted is repository_url_pattern's, which is stricter still.)"""
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
    if _fullmatch(RELATIVE_PATH, path):
        return None
    if path.startswith("/") or "\\" in path or "\x00" in path or not path:
        return "Must be a relative path inside the repository."
    return "Must not leave the repository: no '..' components."


def image_repository_error(value: str) -> str | None:
    if _fullmatch(IMAGE_REPOSITORY, value):
        return None
    if "@" in value:
        return "Must not contain a digest."
    if ":" in value.rsplit("/", 1)[-1]:
        return "Must not contain a tag; tags are set per build."
    return "Must be an image reference without tag, e.g. registry.example.com/team/app."


# Where a repository URL sends credentials (repository_host below); not a validation rule.
_SSH_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")
_URL = re.compile(r"^(?P<scheme>https|ssh|file)://(?P<rest>\S+)$")


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
