"""The REST API over HTTP: authentication, the tenant header, retries with backoff, idempotency keys.

A CI job meets a restarting server, a proxy answering 502 and the rate limiter's 429. Such
answers (and connection errors) are retried with exponential backoff, waiting what a
`Retry-After` header asks for when there is one. A retried POST can reach the server twice, so
every create/start/cancel/retry sends one `Idempotency-Key`, the same on each attempt: the server
replays the first answer instead of making a second build.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from imagefactory.cli.config import Config, ConfigError

USER_AGENT = "imagefactory-cli/0.1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IN_PROGRESS_REASON = "idempotency_request_in_progress"  # the first request with the key still runs


class ApiError(Exception):
    """An error answer of the API (its envelope) or a request that could not be completed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        trace_id: str | None = None,
        details: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.trace_id = trace_id
        self.details = details

    @classmethod
    def from_envelope(cls, body: Any, *, status: int | None, fallback: str) -> ApiError:
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return cls(
                body["error"],
                status=status,
                code=body.get("code"),
                trace_id=body.get("trace_id"),
                details=body.get("details"),
            )
        return cls(fallback, status=status)

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        error = cls.from_envelope(body, status=response.status_code, fallback=f"HTTP {response.status_code}")
        if error.trace_id is None:
            error.trace_id = response.headers.get("X-Request-ID") or response.headers.get("X-Trace-ID")
        return error

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": self.message,
            "code": self.code,
            "status": self.status,
            "trace_id": self.trace_id,
            "details": self.details,
        }


class DeadlineExceeded(Exception):
    """The command's --timeout ran out (exit code 4)."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: `base * factor**n` seconds before retry n (0-based), at most `cap`.

    A server's Retry-After wins over the schedule (bounded by `max_retry_after`, so a broken
    header cannot park a CI job for a day).
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    retries: int = 8
    max_retry_after: float = 300.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.cap, self.base * self.factor**retry)

    def schedule(self) -> list[float]:
        return [self.delay(n) for n in range(self.retries)]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retryable_status(status: int) -> bool:
    """429 and server errors; 501 (not implemented) will not change by asking again."""
    return status == 429 or (status >= 500 and status != 501)


class Client:
    def __init__(
        self,
        config: Config,
        *,
        backoff: Backoff | None = None,
        notify: Callable[[str], None] = lambda message: None,
        deadline: float | None = None,
        request_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.backoff = backoff or Backoff()
        self.notify = notify
        self.deadline = deadline  # a time.monotonic() value, or None: no --timeout
        self.request_timeout = request_timeout
        self.sleep = sleep
        self.clock = clock
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.token = config.token
        self._tenant_id: str | None = None

    # --- time ----------------------------------------------------------------------------------
    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def check_deadline(self) -> None:
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded()

    def pause(self, seconds: float) -> None:
        """Sleeps, but never past the deadline (then DeadlineExceeded)."""
        remaining = self.remaining()
        if remaining is not None and seconds >= remaining:
            self.sleep(max(0.0, remaining))
            raise DeadlineExceeded()
        self.sleep(seconds)

    # --- identity ------------------------------------------------------------------------------
    def login(self) -> dict[str, Any]:
        if not self.config.can_log_in:
            raise ConfigError("login needs IMAGEFACTORY_EMAIL and IMAGEFACTORY_PASSWORD (or --email/--password)")
        body: dict[str, Any] = self.call(
            "POST",
            "/auth/login",
            json={"email": self.config.email, "password": self.config.password},
            auth=False,
            tenant=False,
        )
        self.token = body["access_token"]
        return body

    def access_token(self) -> str:
        if self.token is None:
            if not self.config.can_log_in:
                raise ConfigError(
                    "no credentials: set IMAGEFACTORY_TOKEN, or IMAGEFACTORY_EMAIL and IMAGEFACTORY_PASSWORD"
                )
            self.login()
        assert self.token is not None
        return self.token

    def tenant_id(self) -> str:
        """IMAGEFACTORY_TENANT as a UUID; a tenant name, or none for a member of one tenant, is looked up."""
        if self._tenant_id is not None:
            return self._tenant_id
        wanted = self.config.tenant
        if wanted is not None and _is_uuid(wanted):
            self._tenant_id = wanted
            return wanted
        memberships = self.call("GET", "/auth/me", tenant=False).get("memberships", [])
        if wanted is None:
            if len(memberships) != 1:
                names = ", ".join(f"{m['tenant_name']} ({m['tenant_id']})" for m in memberships) or "none"
                raise ConfigError(f"set IMAGEFACTORY_TENANT (or --tenant); your tenants: {names}")
            self._tenant_id = str(memberships[0]["tenant_id"])
            return self._tenant_id
        matches = [m for m in memberships if m["tenant_name"] == wanted]
        if len(matches) != 1:
            raise ConfigError(f"no tenant named {wanted!r} among your memberships")
        self._tenant_id = str(matches[0]["tenant_id"])
        return self._tenant_id

    def auth_headers(self, *, tenant: bool = True) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.access_token()}"}
        if tenant:
            headers["X-Tenant-ID"] = self.tenant_id()
        return headers

    # --- requests ------------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = False,
        auth: bool = True,
        tenant: bool = True,
    ) -> Any:
        """One API call, retried as the module says; the decoded JSON body (None for 204)."""
        key = str(uuid.uuid4()) if idempotent else None  # one key for every attempt of this call
        relogged = False
        retry = 0
        while True:
            self.check_deadline()
            headers = self.auth_headers(tenant=tenant) if auth else {}
            if key is not None:
                headers[IDEMPOTENCY_HEADER] = key
            retry_after: float | None = None
            try:
                response = self.session.request(
                    method,
                    self.config.api_url + path,
                    json=json,
                    params=params,
                    headers=headers,
                    timeout=self._attempt_timeout(),
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = f"{method} {path}: {type(exc).__name__}"
                last_error = ApiError(f"could not reach {self.config.server}: {exc}")
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                error = ApiError.from_response(response)
                if response.status_code == 401 and auth and self.config.can_log_in and not relogged:
                    relogged = True  # an access token expired during a long build: log in again, once
                    self.token = None
                    continue
                in_progress = isinstance(error.details, dict) and error.details.get("reason") == IN_PROGRESS_REASON
                if not (retryable_status(response.status_code) or in_progress):
                    raise error
                reason = f"{method} {path}: HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                last_error = error
            if retry >= self.backoff.retries:
                raise last_error
            delay = self.backoff.delay(retry, retry_after)
            retry += 1
            self.notify(f"{reason}; retry {retry}/{self.backoff.retries} in {delay:.1f}s")
            self.pause(delay)

    def _attempt_timeout(self) -> float:
        remaining = self.remaining()
        return self.request_timeout if remaining is None else max(0.1, min(self.request_timeout, remaining))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
