"""Fixtures of the trigger tests: triggers with their secret, and signed deliveries to the hook endpoint."""

from __future__ import annotations

import pytest

from triggers.tests.payloads import PAYLOADS, django_headers, signed


@pytest.fixture
def make_trigger():
    """make_trigger(project, kind=..., **fields) -> (trigger, secret)."""
    from triggers.services import create_trigger

    def make(project, kind: str = "github", **fields):
        return create_trigger(project=project, kind=kind, **fields)

    return make


@pytest.fixture
def deliver(client):
    """deliver(trigger, secret, commit=..., branch=..., ...) -> the hook's response (in-process, no token)."""

    def send(trigger, secret, *, commit=None, branch="main", ref=None, event="push", delivery=None, payload=None,
             repository_url=None, sign_with=None, headers=None):  # fmt: skip
        if payload is None:
            payload = PAYLOADS[trigger.kind](
                repository_url=repository_url or trigger.project.repository_url,
                branch=branch,
                commit=commit or "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
                ref=ref,
            )
        body, sent = signed(trigger.kind, sign_with or secret, payload, event=event, delivery=delivery)
        sent |= headers or {}
        return client.generic("POST", f"/api/v1/hooks/{trigger.pk}", body, **django_headers(sent))

    return send


# The builds tests' real-concurrency fixtures (threads on PostgreSQL), shared rather than copied.
from builds.tests.conftest import race_settings, run_concurrently  # noqa: E402, F401
