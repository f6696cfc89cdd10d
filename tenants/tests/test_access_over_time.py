"""Access that ends when it should, end to end: real daphne (and a Celery worker in services mode),
real tokens from /auth/login, the real `websockets` client.

Two servers: on `pushed` the streams' own access check runs only every 120 s, so a stream that
closes within seconds was told through the channel layer; on `polled` it runs every second and
access tokens live four seconds (expiry, and changes made outside the server, are found by polling).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from testing import Stack, StackClient, assert_envelope, need

pytestmark = [pytest.mark.e2e]

ENVELOPE_KEYS = {"error", "code", "timestamp", "trace_id", "details"}
PUSH_ONLY_ENV = {
    "STREAM_ACCESS_CHECK_SECONDS": "120",
    "STREAM_MAX_CONNECTIONS_PER_USER": "3",
    "RATE_LIMIT_USER_REQUESTS": "12",  # handshakes count; every test here uses fresh users
    # One fixed window for the whole run (it turns at midnight UTC), so that a count cannot restart
    # between two of the handshakes the rate-limit test makes.
    "RATE_LIMIT_WINDOW_SECONDS": "86400",
}
# Login failures count in fixed windows too: one window for the whole run (see PUSH_ONLY_ENV).
LOGIN_LIMIT_ENV = {"LOGIN_RATE_LIMIT": "3", "LOGIN_RATE_WINDOW_SECONDS": "86400"}
POLLED_ENV = {"STREAM_ACCESS_CHECK_SECONDS": "1", "JWT_ACCESS_LIFETIME_SECONDS": "4", **LOGIN_LIMIT_ENV}
CLOSE_WITHIN = 20  # seconds: far below the pushed server's 120 s check, far above a push's delay


def _stack(tmp_path_factory, django_db_blocker, name: str, env: dict[str, str]):
    import shutil

    need(shutil.which("buildah") is not None, "buildah is not installed (the server checks its sandbox at start)")
    running = Stack(tmp_path_factory.mktemp(name), extra_env=env)
    with django_db_blocker.unblock():
        running.start()
    return running


@pytest.fixture(scope="module")
def pushed(django_db_setup, django_db_blocker, tmp_path_factory):
    running = _stack(tmp_path_factory, django_db_blocker, "pushed", PUSH_ONLY_ENV)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def polled(django_db_setup, django_db_blocker, tmp_path_factory):
    running = _stack(tmp_path_factory, django_db_blocker, "polled", POLLED_ENV)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    """The servers check passwords with the real hashers: these users log in over HTTP."""


# --- helpers -------------------------------------------------------------------------------------


def log_in(stack: Stack, email: str, *, password: str = "correct-horse-9", forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return requests.post(
        f"{stack.base_url}/api/v1/auth/login", json={"email": email, "password": password}, headers=headers, timeout=30
    )


def tokens_of(stack: Stack, user) -> dict:
    response = log_in(stack, user.email)
    assert response.status_code == 200, response.text
    return response.json()


def as_bearer(stack: Stack, access_token: str, tenant=None) -> StackClient:
    client = StackClient(stack)
    client.session.headers["Authorization"] = f"Bearer {access_token}"
    if tenant is not None:
        client.session.headers["X-Tenant-ID"] = str(tenant.pk)
    return client


def stream_url(stack: Stack, build_id) -> str:
    return f"{stack.ws_url}/api/v1/builds/{build_id}/logs/stream"


async def _until_closed(ws) -> list[dict]:
    frames = []
    try:
        async for raw in ws:
            frames.append(json.loads(raw))
    except ConnectionClosed:
        pass
    return frames


def stream_then(stack: Stack, build, access_token: str, tenant, action: Callable[[], None]) -> tuple[list[dict], int]:
    """Opens the build's stream, runs `action` (in a thread) once it is open; (frames, close code)."""

    async def run():
        headers = {"Authorization": f"Bearer {access_token}", "X-Tenant-ID": str(tenant.pk)}
        async with asyncio.timeout(CLOSE_WITHIN + 30):
            async with connect(stream_url(stack, build.pk), additional_headers=headers, open_timeout=20) as ws:
                await asyncio.to_thread(action)
                async with asyncio.timeout(CLOSE_WITHIN):
                    frames = await _until_closed(ws)
                return frames, ws.close_code

    return asyncio.run(run())


def assert_access_ended(frames: list[dict], code: int) -> dict:
    assert code == 4403, (code, frames)
    assert len(frames) == 1 and set(frames[0]) == ENVELOPE_KEYS, frames  # one envelope, no log line
    assert frames[0]["code"] == "FORBIDDEN" and frames[0]["error"].startswith("Access ended"), frames[0]
    return frames[0]


@pytest.fixture
def watcher(make_user, tenant, roles):
    """A developer of `tenant` who watches a queued build's stream (it stays open until told)."""
    from tenants.models import Membership

    user = make_user()
    Membership.objects.create(user=user, tenant=tenant, role=roles["developer"])
    return user


@pytest.fixture
def queued_build(make_project, make_build, tenant):
    return make_build(make_project(tenant))


# --- HTTP: revocation ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["password changed", "deactivated", "signed out everywhere"])
def test_revocation_ends_every_access_and_refresh_token(pushed, transactional_db, watcher, tenant, how):
    first, second = tokens_of(pushed, watcher), tokens_of(pushed, watcher)  # two sessions
    me = as_bearer(pushed, first["access_token"])
    assert me.get("/auth/me").status_code == 200

    if how == "password changed":
        watcher.set_password("a-new-password-7")
        watcher.save()
    elif how == "deactivated":
        watcher.is_active = False
        watcher.save()
    else:
        assert me.post("/auth/logout-all").status_code == 204

    for session in (first, second):
        assert_envelope(as_bearer(pushed, session["access_token"]).get("/auth/me"), 401, "UNAUTHORIZED")
        refreshed = requests.post(
            f"{pushed.base_url}/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}, timeout=30
        )
        assert_envelope(refreshed, 401, "UNAUTHORIZED")
    if how == "signed out everywhere":  # a new login works at once
        assert as_bearer(pushed, tokens_of(pushed, watcher)["access_token"]).get("/auth/me").status_code == 200


def test_a_removed_member_and_a_suspended_tenant_take_effect_at_the_next_request(
    pushed, transactional_db, watcher, tenant, queued_build
):
    from tenants.models import Membership, TenantStatus

    client = as_bearer(pushed, tokens_of(pushed, watcher)["access_token"], tenant)
    assert client.get(f"/builds/{queued_build.pk}").status_code == 200
    tenant.status = TenantStatus.SUSPENDED
    tenant.save()
    assert_envelope(client.post(f"/builds/{queued_build.pk}/cancel"), 403, "FORBIDDEN")
    Membership.objects.filter(user=watcher, tenant=tenant).delete()
    assert_envelope(client.get(f"/builds/{queued_build.pk}"), 403, "FORBIDDEN")


# --- streams: closed when access ends ------------------------------------------------------------


@pytest.mark.parametrize("how", ["member removed", "role without build:read", "signed out everywhere"])
def test_an_open_stream_is_closed_at_once_when_access_ends(
    pushed, transactional_db, owner, watcher, tenant, queued_build, make_role, how
):
    """Pushed through the channel layer: the server's own check would take 120 s."""
    from tenants.models import Membership

    access_token = tokens_of(pushed, watcher)["access_token"]
    owner_client = as_bearer(pushed, tokens_of(pushed, owner)["access_token"], tenant)
    membership = Membership.objects.get(user=watcher, tenant=tenant)
    blind = make_role(["build:list", "project:list"])

    def end_access():
        if how == "member removed":
            response = owner_client.request("DELETE", f"/members/{membership.pk}")
            assert response.status_code == 204, response.text
        elif how == "role without build:read":
            response = owner_client.request("PATCH", f"/members/{membership.pk}", json={"role": blind.name})
            assert response.status_code == 200, response.text
        else:
            assert as_bearer(pushed, access_token).post("/auth/logout-all").status_code == 204

    frames, code = stream_then(pushed, queued_build, access_token, tenant, end_access)
    assert_access_ended(frames, code)


@pytest.mark.parametrize("how", ["user deactivated", "access token expired"])
def test_an_open_stream_is_closed_by_its_own_check(polled, transactional_db, watcher, tenant, queued_build, how):
    """Changes the server is not told about (made directly in the database, or the clock) are found
    by the stream's periodic check."""
    access_token = tokens_of(polled, watcher)["access_token"]

    def end_access():
        if how == "user deactivated":
            type(watcher).objects.filter(pk=watcher.pk).update(is_active=False)

    frames, code = stream_then(polled, queued_build, access_token, tenant, end_access)
    envelope = assert_access_ended(frames, code)
    if how == "access token expired":
        assert "expired" in envelope["error"]


def test_a_stream_that_keeps_its_access_stays_open(pushed, transactional_db, owner, watcher, tenant, queued_build):
    """Changes to other people's access do not touch this stream (the push is per user)."""
    from tenants.models import Membership

    owner_client = as_bearer(pushed, tokens_of(pushed, owner)["access_token"], tenant)
    other = Membership.objects.exclude(user=watcher).get(tenant=tenant)

    async def run():
        headers = {
            "Authorization": f"Bearer {tokens_of(pushed, watcher)['access_token']}",
            "X-Tenant-ID": str(tenant.pk),
        }
        async with connect(stream_url(pushed, queued_build.pk), additional_headers=headers, open_timeout=20) as ws:
            await asyncio.to_thread(lambda: owner_client.post("/auth/logout-all"))
            await asyncio.to_thread(lambda: owner_client.request("GET", f"/members/{other.pk}"))
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(5):
                    await ws.recv()
            assert ws.close_code is None

    asyncio.run(run())


# --- streams: per-user cap and handshake rate --------------------------------------------------


def test_open_streams_are_capped_per_user(pushed, transactional_db, watcher, tenant, queued_build):
    access_token = tokens_of(pushed, watcher)["access_token"]
    headers = {"Authorization": f"Bearer {access_token}", "X-Tenant-ID": str(tenant.pk)}
    url = stream_url(pushed, queued_build.pk)

    async def run():
        open_streams = [await connect(url, additional_headers=headers, open_timeout=20) for _ in range(3)]
        try:
            async with connect(url, additional_headers=headers, open_timeout=20) as refused:
                frames = await _until_closed(refused)
            assert refused.close_code == 4429, frames
            assert len(frames) == 1 and frames[0]["code"] == "RATE_LIMITED" and frames[0]["details"]["limit"] == 3
            await open_streams.pop().close()
            # The place is given back: the next stream is admitted (and waits for the queued build).
            async with connect(url, additional_headers=headers, open_timeout=20) as admitted:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(3):
                        await admitted.recv()
        finally:
            for ws in open_streams:
                await ws.close()

    asyncio.run(run())


def test_handshakes_count_against_the_users_rate_limit(pushed, transactional_db, watcher, tenant, queued_build):
    access_token = tokens_of(pushed, watcher)["access_token"]
    headers = {"Authorization": f"Bearer {access_token}", "X-Tenant-ID": str(tenant.pk)}

    async def handshake() -> tuple[list[dict], int | None]:
        async with connect(stream_url(pushed, queued_build.pk), additional_headers=headers, open_timeout=20) as ws:
            try:
                async with asyncio.timeout(0.3):
                    frames = await _until_closed(ws)
            except TimeoutError:
                frames = []
            return frames, ws.close_code

    async def run():
        outcomes = [await handshake() for _ in range(int(PUSH_ONLY_ENV["RATE_LIMIT_USER_REQUESTS"]) + 1)]
        return outcomes

    outcomes = asyncio.run(run())
    codes = [code for _, code in outcomes]
    assert codes[:-1] == [None] * (len(codes) - 1) and codes[-1] == 4429, codes  # admitted, admitted, ..., refused
    frames = outcomes[-1][0]
    assert len(frames) == 1 and frames[0]["code"] == "RATE_LIMITED"


# --- login limits behind a proxy -----------------------------------------------------------------


def test_a_lockout_does_not_lock_the_victim_out(polled, transactional_db, watcher):
    """Without a trusted proxy every client here is 127.0.0.1 and X-Forwarded-For is ignored, so
    the attacker's varied headers do not escape the lock; the lock holds the (email, address) pair."""
    limit = int(POLLED_ENV["LOGIN_RATE_LIMIT"])
    for n in range(limit):
        failed = log_in(polled, watcher.email, password="wrong-password-1", forwarded_for=f"203.0.113.{n}")
        assert failed.status_code == 401
    locked = log_in(polled, watcher.email, forwarded_for="203.0.113.200")
    assert_envelope(locked, 429, "RATE_LIMITED")
    assert int(locked.headers["Retry-After"]) >= 1


@pytest.fixture(scope="module")
def behind_proxy(django_db_setup, django_db_blocker, tmp_path_factory):
    running = _stack(tmp_path_factory, django_db_blocker, "proxied", {"TRUSTED_PROXY_COUNT": "1", **LOGIN_LIMIT_ENV})
    yield running
    running.stop()


def test_behind_a_trusted_proxy_the_lock_is_the_attackers_own(behind_proxy, transactional_db, watcher):
    for _ in range(3):
        assert log_in(behind_proxy, watcher.email, password="wrong-1", forwarded_for="203.0.113.66").status_code == 401
    locked = log_in(behind_proxy, watcher.email, forwarded_for="203.0.113.66")
    assert_envelope(locked, 429, "RATE_LIMITED")
    assert int(locked.headers["Retry-After"]) >= 1
    # The victim's own address (as the proxy reports it) still logs in; so does a spoofed left part.
    assert log_in(behind_proxy, watcher.email, forwarded_for="203.0.113.7").status_code == 200
    assert log_in(behind_proxy, watcher.email, forwarded_for="203.0.113.66, 203.0.113.8").status_code == 200


# --- headers a security review expects -----------------------------------------------------------


def test_cors_is_off_unless_origins_are_listed(pushed, transactional_db, owner):
    preflight = requests.options(
        f"{pushed.base_url}/api/v1/auth/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    me = requests.get(
        f"{pushed.base_url}/api/v1/auth/me",
        headers={
            "Origin": "https://evil.example",
            "Authorization": f"Bearer {tokens_of(pushed, owner)['access_token']}",
        },
        timeout=30,
    )
    assert me.status_code == 200 and "Access-Control-Allow-Origin" not in me.headers


def test_cors_answers_only_the_listed_origins(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://ci.example.com"]
    allowed = client.options(
        "/api/v1/auth/me", HTTP_ORIGIN="https://ci.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://ci.example.com"
    assert "x-tenant-id" in allowed["Access-Control-Allow-Headers"]
    other = client.options(
        "/api/v1/auth/me", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in other


def test_file_repositories_outside_the_roots_are_refused_by_the_server(pushed, transactional_db, owner, tenant):
    client = as_bearer(pushed, tokens_of(pushed, owner)["access_token"], tenant)
    body = {"name": "stolen", "image_repository": "registry.example.com/acme/stolen"}
    refused = client.post("/projects", json={**body, "repository_url": "file:///work/main/.git"})
    assert_envelope(refused, 400, "INVALID_REQUEST")
    assert "repository_url" in refused.json()["details"]
    allowed = client.post("/projects", json={**body, "repository_url": "file:///tmp/some/repo.git"})
    assert allowed.status_code == 201, allowed.text
