"""Fixtures of the webhooks tests: subscriptions, a real receiver on loopback, allowed or not."""

from __future__ import annotations

import pytest

from testing import WebhookReceiver


@pytest.fixture
def subscribe(tenant, owner):
    """subscribe(url, events=["build.*"], project=None) -> a subscription of the tenant, made by its owner."""
    from webhooks import services

    def make(url: str = "http://127.0.0.1:9/hook", *, events=("build.*",), project=None, tenant_=None):
        return services.create_subscription(
            tenant=tenant_ or tenant, user=owner, url=url, events=list(events), project=project
        )

    return make


@pytest.fixture
def receiver():
    running = WebhookReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return settings
