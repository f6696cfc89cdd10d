"""Sends one webhook request without server-side request forgery: no Django, no database.

The target's name is resolved once; every address it resolves to must be outside the refused
ranges (loopback, link-local including the cloud metadata address, private, unique-local, shared,
multicast, reserved, unspecified: anything not globally routable) unless inside an allowed network.
The connection then goes to the address that was checked (Host header and TLS SNI/certificate
still name the host), so a second lookup cannot rebind it. Redirects are never followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
EXCERPT_BYTES = 1024

SUCCESS = "success"
HTTP_ERROR = "http_error"
NETWORK_ERROR = "network_error"
REFUSED = "refused"


class Refused(Exception):
    """The target is not allowed (scheme, or an address in a refused range)."""

    def __init__(self, message: str, address: str = ""):
        super().__init__(message)
        self.address = address


@dataclass(frozen=True)
class Result:
    outcome: str
    duration_ms: int
    status_code: int | None = None
    address: str = ""
    error: str = ""
    excerpt: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == SUCCESS


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip()]


def refusal(address: IPAddress, allowed: Iterable[IPNetwork]) -> str | None:
    """Why `address` may not be connected to, or None when it may."""
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
    allowed = list(allowed)
    if any(
        candidate in network for candidate in candidates for network in allowed if candidate.version == network.version
    ):
        return None
    for candidate in candidates:
        for kind in ("unspecified", "loopback", "link_local", "private", "multicast", "reserved"):
            if getattr(candidate, f"is_{kind}"):
                return f"{address} is a {kind.replace('_', '-')} address"
        if not candidate.is_global:
            return f"{address} is not a globally routable address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def checked_address(host: str, port: int, allowed: Iterable[IPNetwork]) -> IPAddress:
    """The address to connect to: the first one `host` resolves to, if none of them is refused."""
    allowed = list(allowed)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for address in addresses:
        reason = refusal(address, allowed)
        if reason:
            raise Refused(f"{host} refused: {reason} (not in WEBHOOK_ALLOWED_NETWORKS)", str(address))
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: IPAddress, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: IPAddress, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = str(address)

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float, allowed: Iterable[IPNetwork]) -> Result:
    """POSTs `body` to `url` once; never raises for what the target does."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Result(REFUSED, elapsed(), error=f"only http and https targets are allowed: {url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return Result(REFUSED, elapsed(), error=f"invalid port in {url}")
    host = parts.hostname
    try:
        address = checked_address(host, port, allowed)
    except Refused as exc:
        return Result(REFUSED, elapsed(), address=exc.address, error=str(exc))
    except OSError as exc:
        return Result(NETWORK_ERROR, elapsed(), error=str(exc))
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=address, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return Result(NETWORK_ERROR, elapsed(), address=str(address), error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    outcome = SUCCESS if 200 <= response.status < 300 else HTTP_ERROR
    error = "" if outcome == SUCCESS else f"HTTP {response.status} {response.reason}"
    return Result(outcome, elapsed(), status_code=response.status, address=str(address), error=error, excerpt=excerpt)
