"""Fixtures for the web UI: signed-in browsers (Django's test client) in a chosen tenant."""

from __future__ import annotations

import pytest
from django.test import Client

PASSWORD = "correct-horse-9"


@pytest.fixture
def browser_for():
    """browser_for(user, tenant=None, *, csrf=False) -> a test client logged in through the login form.

    With `tenant`, the tenant is chosen through the navbar's selector; `csrf=True` enforces CSRF
    as a real browser meets it.
    """

    def make(user, tenant=None, *, csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        page = client.get("/accounts/login/")
        response = client.post(
            "/accounts/login/",
            {"username": user.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf_token_of(page)},
        )
        assert response.status_code == 302, response.content[:500]
        if tenant is not None:
            home = client.get("/")
            response = client.post(
                "/tenant/", {"tenant_id": str(tenant.pk), "next": "/", "csrfmiddlewaretoken": csrf_token_of(home)}
            )
            assert response.status_code == 302 and response["Location"] == "/", response
        return client

    return make


def csrf_token_of(page) -> str:
    """The CSRF token a page's forms carry (what a browser would submit)."""
    token = page.context and page.context.get("csrf_token")
    assert token, "the page has no CSRF token"
    return str(token)


@pytest.fixture
def other_tenant(make_tenant, make_user):
    return make_tenant("globex", members={make_user("globex-owner@example.com"): "owner"})


@pytest.fixture
def member_of(make_user, roles):
    """member_of(tenant, role) -> a new user with that role in the tenant."""
    from tenants.models import Membership

    def make(tenant, role: str):
        user = make_user()
        Membership.objects.create(user=user, tenant=tenant, role=roles[role])
        return user

    return make


# --- The browser tests: a production-mode server (DEBUG off), a real registry, headless Chromium --


@pytest.fixture(scope="session")
def web_registry(tmp_path_factory):
    from testing import Registry

    registry = Registry(tmp_path_factory.mktemp("web-registry"))
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def web_stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne (+ a Celery worker in services mode) with DEBUG off, as in production.

    Plain HTTP on loopback, so the session and CSRF cookies are not marked Secure; file://
    repositories are allowed for the test repositories.
    """
    import shutil

    from testing import Stack, need

    need(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")
    stack = Stack(
        tmp_path_factory.mktemp("web-stack"),
        extra_env={
            "DEBUG": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
        },
    )
    with django_db_blocker.unblock():
        stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """Where screenshots go: $IMAGEFACTORY_ARTIFACTS, else a temp dir."""
    import os
    from pathlib import Path

    configured = os.environ.get("IMAGEFACTORY_ARTIFACTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def driver():
    import shutil

    from testing import need
    from testing.browser import CHROMEDRIVER, CHROMIUM, chromium

    need(shutil.which(CHROMIUM) is not None, "chromium is not installed (apt-get install chromium)")
    need(shutil.which(CHROMEDRIVER) is not None, "chromedriver is not installed (apt-get install chromium-driver)")
    browser = chromium(record_requests=True)
    browser.set_script_timeout(30)
    yield browser
    browser.quit()
