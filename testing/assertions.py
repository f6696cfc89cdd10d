"""Assertions and credentials shared by the test suites of every app."""

from __future__ import annotations

import json


def access_token_for(user) -> str:
    # Imported here: simplejwt reads Django's settings at import, and the harness is imported
    # before Django is set up (pytest's conftest, the benchmarks).
    from accounts.tokens import access_token_for as issue

    return issue(user)


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    """The guide's error envelope, with the expected status and code."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error", "code", "timestamp", "trace_id", "details"}, body
    if code is not None:
        assert body["code"] == code, body
    headers = getattr(response, "headers", response)  # requests' Response, or Django's
    assert body["trace_id"] and headers["X-Request-ID"] == body["trace_id"]
    return body


def stable_bytes(response) -> bytes:
    """The raw body with timestamp and trace_id blanked: two answers that must not differ compare equal."""
    body, content = response.json(), response.content
    for key in ("timestamp", "trace_id"):
        content = content.replace(json.dumps(body[key]).encode(), b'"-"')
    return content
