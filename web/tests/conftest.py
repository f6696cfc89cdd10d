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
