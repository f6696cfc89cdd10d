"""Fixtures of the account tests: a login helper."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

PASSWORD = "correct-horse-9"


@pytest.fixture
def login():
    """login(email, password, address=..., forwarded_for=...) -> the response of POST /api/v1/auth/login."""

    def post(email: str, password: str = PASSWORD, *, address: str = "10.0.0.1", forwarded_for: str | None = None):
        headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
        return APIClient().post(
            "/api/v1/auth/login",
            {"email": email, "password": password},
            format="json",
            REMOTE_ADDR=address,
            **headers,
        )

    return post


@pytest.fixture
def tokens(login, owner) -> dict:
    """A fresh token pair of `owner`."""
    response = login(owner.email)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def auth_post():
    def post(path: str, body: dict):
        return APIClient().post(f"/api/v1/auth/{path}", body, format="json")

    return post


@pytest.fixture
def bearer():
    """bearer(raw_token) -> an APIClient presenting it, without X-Tenant-ID (/auth/* needs none)."""

    def make(raw_token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
        return client

    return make
