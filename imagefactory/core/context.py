"""Per-request and per-build context (trace id, tenant, build, user) carried into every log line."""

from __future__ import annotations

import contextvars
import re
import uuid

trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="-")
tenant_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant_id", default="-")
build_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("build_id", default="-")
user_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("user_id", default="-")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def choose_trace_id(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh id."""
    if incoming and _SANE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def current_trace_id() -> str:
    return trace_id_var.get()
