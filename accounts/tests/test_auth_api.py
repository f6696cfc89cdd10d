"""/auth/*: login, refresh with rotation, logout, me; deactivated users; login throttling."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tenants.roles import ALL_PERMISSIONS, BUILTIN_ROLES
from testing import assert_envelope, stable_bytes

pytestmark = pytest.mark.django_db


# --- login ----------------------------------------------------------------------------------


def test_login_returns_a_token_pair_and_the_user(login, owner, bearer):
    response = login(owner.email)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"] == {"id": owner.pk, "email": "owner@example.com", "name": "", "is_system_admin": False}
    assert str(AccessToken(body["access_token"])["user_id"]) == str(owner.pk)
    assert bearer(body["access_token"]).get("/api/v1/auth/me").status_code == 200


def test_system_admin_login_says_so(login, make_user):
    admin = make_user("root@example.com", superuser=True)
    assert login(admin.email).json()["user"]["is_system_admin"] is True


@pytest.mark.parametrize("email", ["OWNER@EXAMPLE.COM", "Owner@Example.com", " owner@example.com "])
def test_login_email_is_case_insensitive(login, owner, email):
    response = login(email)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == owner.pk


def test_email_is_unique_regardless_of_case(make_user, owner):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        make_user("Owner@Example.COM")


def test_wrong_password_unknown_email_and_inactive_user_answer_the_same_401(login, owner, make_user):
    make_user("gone@example.com", is_active=False)
    wrong_password = login(owner.email, "wrong-password-1")
    unknown_email = login("nobody@example.com")
    inactive = login("gone@example.com")
    for response in (wrong_password, unknown_email, inactive):
        assert_envelope(response, 401, "UNAUTHORIZED")
    assert stable_bytes(wrong_password) == stable_bytes(unknown_email) == stable_bytes(inactive)


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": "x", "otp": 1}, "otp"),
    ],
)
def test_login_validation_errors_name_the_field(body, field):
    response = APIClient().post("/api/v1/auth/login", body, format="json")
    details = assert_envelope(response, 400, "INVALID_REQUEST")["details"]
    assert isinstance(details[field], str)


# --- refresh and logout ---------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_then_refused(tokens, auth_post, owner):
    response = auth_post("refresh", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200, response.content
    rotated = response.json()
    assert rotated["token_type"] == "Bearer" and rotated["user"]["id"] == owner.pk
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["access_token"] != tokens["access_token"]
    assert_envelope(auth_post("refresh", {"refresh_token": tokens["refresh_token"]}), 401, "UNAUTHORIZED")
    assert auth_post("refresh", {"refresh_token": rotated["refresh_token"]}).status_code == 200


@pytest.mark.parametrize("which", ["access_token", "garbage"])
def test_refresh_refuses_anything_but_a_refresh_token(tokens, auth_post, which):
    raw = tokens["access_token"] if which == "access_token" else "not-a-jwt"
    assert_envelope(auth_post("refresh", {"refresh_token": raw}), 401, "UNAUTHORIZED")


def test_refresh_of_a_deactivated_user_is_refused(tokens, auth_post, owner):
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert_envelope(auth_post("refresh", {"refresh_token": tokens["refresh_token"]}), 401, "UNAUTHORIZED")


def test_logout_kills_the_refresh_token(tokens, auth_post):
    response = auth_post("logout", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204 and response.content == b""
    assert_envelope(auth_post("refresh", {"refresh_token": tokens["refresh_token"]}), 401, "UNAUTHORIZED")


def test_logout_with_a_bad_token_is_401(auth_post):
    assert_envelope(auth_post("logout", {"refresh_token": "not-a-jwt"}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("racers", [2, 5])
def test_concurrent_refreshes_with_one_token_have_exactly_one_winner(transactional_db, tokens, racers):
    """Real threads, each with its own database connection (PostgreSQL when DATABASE_URL names it)."""
    barrier = threading.Barrier(racers)
    statuses: list[int] = []

    def refresh():
        try:
            barrier.wait(timeout=10)
            response = APIClient().post(
                "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [401] * (racers - 1)


# --- me -------------------------------------------------------------------------------------


def test_me_lists_memberships_without_a_tenant_header(owner, tenant, make_tenant, bearer, tokens):
    beta = make_tenant("beta", members={owner: "viewer"})
    response = bearer(tokens["access_token"]).get("/api/v1/auth/me")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["email"] == owner.email and body["is_system_admin"] is False
    assert body["memberships"] == [
        {"tenant_id": str(tenant.pk), "tenant_name": "acme", "role": "owner", "permissions": sorted(ALL_PERMISSIONS)},
        {
            "tenant_id": str(beta.pk),
            "tenant_name": "beta",
            "role": "viewer",
            "permissions": sorted(BUILTIN_ROLES["viewer"]),
        },
    ]


def test_me_of_a_system_admin_shows_every_permission(make_user, make_tenant, login, bearer):
    admin = make_user("root@example.com", superuser=True)
    make_tenant("gamma", members={admin: "viewer"})
    access = login(admin.email).json()["access_token"]
    [membership] = bearer(access).get("/api/v1/auth/me").json()["memberships"]
    assert membership["permissions"] == sorted(ALL_PERMISSIONS)


def test_deactivated_user_is_refused_at_once_with_an_unexpired_token(owner, tokens, bearer):
    client = bearer(tokens["access_token"])
    assert client.get("/api/v1/auth/me").status_code == 200
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert_envelope(client.get("/api/v1/auth/me"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("raw", ["refresh", "garbage", None])
def test_me_needs_an_access_token(tokens, bearer, raw):
    client = APIClient() if raw is None else bearer(tokens["refresh_token"] if raw == "refresh" else "x.y.z")
    assert_envelope(client.get("/api/v1/auth/me"), 401, "UNAUTHORIZED")


# --- login throttling -----------------------------------------------------------------------


@pytest.fixture
def low_login_limit(settings):
    settings.LOGIN_RATE_LIMIT = 2
    settings.LOGIN_ADDRESS_RATE_LIMIT = 5
    settings.LOGIN_RATE_WINDOW_SECONDS = 86400  # fixed windows: no restart of the count mid-test
    return settings.LOGIN_RATE_LIMIT


def test_failed_logins_lock_the_email_from_that_address_only(low_login_limit, login, owner):
    for _ in range(low_login_limit):
        assert login(owner.email, "wrong-password-1", address="10.1.0.1").status_code == 401
    response = login(owner.email, address="10.1.0.1")  # right password, same address: locked
    assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    # The victim, from their own address, is not locked out by someone failing against their email.
    assert login(owner.email, address="10.1.0.2").status_code == 200


def test_a_success_forgives_the_pairs_failures(low_login_limit, login, owner):
    for _ in range(3):
        assert login(owner.email, "wrong-password-1", address="10.3.0.1").status_code == 401
        assert login(owner.email, address="10.3.0.1").status_code in (200, 429)
    assert login(owner.email, "wrong-password-1", address="10.3.0.1").status_code == 401
    assert login(owner.email, address="10.3.0.1").status_code == 200


def test_failed_logins_lock_a_client_address_across_emails(low_login_limit, settings, login, owner):
    for n in range(settings.LOGIN_ADDRESS_RATE_LIMIT):
        assert login(f"guess-{n}@example.com", address="10.2.0.1").status_code == 401
    response = login(owner.email, address="10.2.0.1")
    assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert login(owner.email, address="10.2.0.2").status_code == 200  # another address still may log in


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted(low_login_limit, login, owner):
    # Untrusted: the header is the client's own claim, so varying it does not escape the lock.
    for n in range(low_login_limit):
        assert login(owner.email, "wrong-password-1", address="10.4.0.1", forwarded_for=f"1.2.3.{n}").status_code == 401
    assert login(owner.email, address="10.4.0.1", forwarded_for="1.2.3.99").status_code == 429


@pytest.mark.parametrize(
    ("trust", "remote", "forwarded", "client"),
    [
        ({}, "10.0.0.9", "203.0.113.7", "10.0.0.9"),
        ({"TRUSTED_PROXY_COUNT": 1}, "10.0.0.9", "203.0.113.7", "203.0.113.7"),
        ({"TRUSTED_PROXY_COUNT": 1}, "10.0.0.9", "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # spoofed left part
        ({"TRUSTED_PROXY_COUNT": 2}, "10.0.0.9", "6.6.6.6, 203.0.113.7, 10.0.0.8", "203.0.113.7"),
        ({"TRUSTED_PROXY_COUNT": 1}, "10.0.0.9", "not-an-address", "10.0.0.9"),
        ({"TRUSTED_PROXY_NETWORKS": ["10.0.0.0/8"]}, "10.0.0.9", "6.6.6.6, 203.0.113.7, 10.0.0.8", "203.0.113.7"),
        ({"TRUSTED_PROXY_NETWORKS": ["10.0.0.0/8"]}, "192.0.2.1", "203.0.113.7", "192.0.2.1"),  # not via a proxy
    ],
)
def test_the_client_address_behind_trusted_proxies(settings, rf, trust, remote, forwarded, client):
    from imagefactory.core.ratelimit import client_address

    settings.TRUSTED_PROXY_COUNT = trust.get("TRUSTED_PROXY_COUNT", 0)
    settings.TRUSTED_PROXY_NETWORKS = trust.get("TRUSTED_PROXY_NETWORKS", [])
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client


def test_an_operator_signs_a_user_out_everywhere_from_the_admin(client, make_user, login, owner, bearer):
    tokens = login(owner.email).json()
    operator = make_user(superuser=True)
    client.force_login(operator)
    response = client.post(
        "/admin/accounts/user/",
        {"action": "sign_out_everywhere", "_selected_action": [owner.pk]},
        follow=True,
    )
    assert response.status_code == 200 and "Signed out 1 user(s) everywhere." in response.content.decode()
    assert_envelope(bearer(tokens["access_token"]).get("/api/v1/auth/me"), 401, "UNAUTHORIZED")
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert_envelope(refreshed, 401, "UNAUTHORIZED")
    # The operator's own session is untouched; a browser session of the user would end too.
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("how", ["password changed", "signed out everywhere", "deactivated"])
def test_revocation_ends_the_users_browser_sessions(client, make_user, how):
    from accounts.services import sign_out_everywhere

    user = make_user(is_staff=True, is_superuser=True)
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    if how == "password changed":
        user.set_password("another-password-5")
        user.save()
    elif how == "signed out everywhere":
        sign_out_everywhere(user)
    else:
        user.is_active = False
        user.save()
    response = client.get("/admin/")  # the session no longer authenticates anyone: back to the login page
    assert response.status_code == 302 and "/login/" in response["Location"]
