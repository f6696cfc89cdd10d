"""Where the server is and who is asking: flags first, then IMAGEFACTORY_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

API_PREFIX = "/api/v1"
DEFAULT_URL = "http://localhost:8080"

# Each setting: its flag's destination in argparse and its environment variable.
ENV_VARS = {
    "url": "IMAGEFACTORY_URL",
    "token": "IMAGEFACTORY_TOKEN",
    "email": "IMAGEFACTORY_EMAIL",
    "password": "IMAGEFACTORY_PASSWORD",
    "tenant": "IMAGEFACTORY_TENANT",
}


class ConfigError(Exception):
    """Settings that cannot work (a usage error: exit code 3)."""


@dataclass(frozen=True)
class Config:
    server: str  # scheme://host[:port][/prefix], without /api/v1 and without a trailing slash
    token: str | None = None
    email: str | None = None
    password: str | None = None
    tenant: str | None = None

    @property
    def api_url(self) -> str:
        return self.server + API_PREFIX

    @property
    def ws_url(self) -> str:
        """The same API root for WebSocket: ws:// for http://, wss:// for https://."""
        scheme, rest = self.api_url.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest

    @property
    def can_log_in(self) -> bool:
        return bool(self.email and self.password)


def server_root(raw: str) -> str:
    """The server root from IMAGEFACTORY_URL: a trailing slash or /api/v1 is accepted and removed."""
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"IMAGEFACTORY_URL must be an http:// or https:// URL, got {raw!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"IMAGEFACTORY_URL must not have a query or fragment, got {raw!r}")
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)].rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def load(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> Config:
    """A flag that was given wins over its environment variable; empty values count as unset."""

    def setting(name: str) -> str | None:
        value = flags.get(name)
        if value is None or value == "":
            value = environ.get(ENV_VARS[name]) or None
        return value

    email, password = setting("email"), setting("password")
    if bool(email) != bool(password):
        raise ConfigError("IMAGEFACTORY_EMAIL and IMAGEFACTORY_PASSWORD go together: set both or neither")
    return Config(
        server=server_root(setting("url") or DEFAULT_URL),
        token=setting("token"),
        email=email,
        password=password,
        tenant=setting("tenant"),
    )
