"""The API rate limiter: headers on every /api/v1/ response, 429 over the limit, per user+tenant or address."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from testing import assert_envelope

pytestmark = pytest.mark.django_db

LIMIT = 3
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.RATE_LIMIT_REQUESTS = LIMIT
    settings.RATE_LIMIT_WINDOW_SECONDS = 3600  # one window for the whole test, whatever the clock does


def _exhaust(client, path="/api/v1/projects"):
    return [client.get(path) for _ in range(LIMIT)]


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda c: c.get("/api/v1/projects"), id="200"),
        pytest.param(lambda c: c.post("/api/v1/projects", {}, format="json"), id="400"),
        pytest.param(lambda c: c.get("/api/v1/nope"), id="404-unknown-url"),
        pytest.param(lambda c: APIClient().get("/api/v1/projects"), id="401"),
        pytest.param(lambda c: APIClient().post("/api/v1/auth/login", {}, format="json"), id="auth-login"),
    ],
)
def test_every_api_response_carries_the_rate_limit_headers(send, owner_api):
    response = send(owner_api)
    assert all(name in response for name in RATE_HEADERS), dict(response.headers)
    assert int(response["X-RateLimit-Limit"]) == LIMIT
    assert 0 <= int(response["X-RateLimit-Remaining"]) < LIMIT
    assert int(response["X-RateLimit-Reset"]) > time.time()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_not_counted(path):
    response = APIClient().get(path)
    assert "X-RateLimit-Limit" not in response


def test_the_schema_is_rate_limited_like_the_rest(settings):
    settings.RATE_LIMIT_REQUESTS = 2
    client = APIClient()
    responses = [client.get("/api/v1/schema/", REMOTE_ADDR="10.9.0.1") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert all("X-RateLimit-Limit" in r for r in responses)
    assert int(responses[-1]["Retry-After"]) >= 1


def test_the_schema_is_generated_once_per_process():
    from drf_spectacular.generators import SchemaGenerator

    client = APIClient()
    first = client.get("/api/v1/schema/?format=json")
    calls = []
    original = SchemaGenerator.get_schema
    SchemaGenerator.get_schema = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    try:
        again = [client.get("/api/v1/schema/?format=json") for _ in range(2)]
    finally:
        SchemaGenerator.get_schema = original
    assert calls == []
    assert [r.status_code for r in again] == [200, 200]
    assert all(r.content == first.content for r in again)


def test_remaining_decreases_then_429_with_retry_after(owner_api):
    responses = _exhaust(owner_api)
    assert [int(r["X-RateLimit-Remaining"]) for r in responses] == list(range(LIMIT - 1, -1, -1))
    assert all(r.status_code == 200 for r in responses)
    over = owner_api.get("/api/v1/projects")
    body = assert_envelope(over, 429, "RATE_LIMITED")
    assert over["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(over["Retry-After"]) <= 3600
    assert body["details"]["limit"] == LIMIT


def test_counted_per_user_and_tenant(api, owner, tenant, make_tenant, make_user):
    _exhaust(api(owner, tenant))
    assert api(owner, tenant).get("/api/v1/projects").status_code == 429
    second_tenant = make_tenant("second", members={owner: "owner"})
    assert api(owner, second_tenant).get("/api/v1/projects").status_code == 200  # its own count
    colleague = make_user()
    tenant.memberships.create(user=colleague, role=second_tenant.memberships.get(user=owner).role)
    assert api(colleague, tenant).get("/api/v1/projects").status_code == 200  # another user: own count


@pytest.mark.parametrize(
    "spellings",
    [
        ["junk-1", "junk-2", "junk-3", ""],
        ["{tenant}", "{TENANT}", "{{{tenant}}}", "urn:uuid:{tenant}"],
    ],
    ids=["malformed", "same-uuid-spelled-differently"],
)
def test_varying_the_tenant_header_spelling_does_not_reset_the_count(api, owner, tenant, spellings):
    for spelling in spellings[:LIMIT]:
        api(owner, tenant_header=spelling.format(tenant=tenant.pk, TENANT=str(tenant.pk).upper())).get(
            "/api/v1/projects"
        )
    last = spellings[LIMIT].format(tenant=tenant.pk, TENANT=str(tenant.pk).upper())
    assert_envelope(api(owner, tenant_header=last).get("/api/v1/projects"), 429, "RATE_LIMITED")


def test_unauthenticated_requests_are_counted_per_address():
    client = APIClient(REMOTE_ADDR="10.9.0.1")
    for _ in range(LIMIT):
        assert client.get("/api/v1/projects").status_code == 401
    assert_envelope(client.get("/api/v1/projects"), 429, "RATE_LIMITED")
    assert APIClient(REMOTE_ADDR="10.9.0.2").get("/api/v1/projects").status_code == 401


def test_a_forged_token_counts_against_the_address_not_a_user(owner_api):
    """Only a valid signature selects the per-user counter; garbage cannot dodge the address limit."""
    for n in range(LIMIT):
        APIClient(REMOTE_ADDR="10.9.1.1", HTTP_AUTHORIZATION=f"Bearer forged-{n}").get("/api/v1/projects")
    assert APIClient(REMOTE_ADDR="10.9.1.1").get("/api/v1/projects").status_code == 429
    assert owner_api.get("/api/v1/projects").status_code == 200


def test_an_unreachable_cache_does_not_take_the_api_down(settings, owner_api):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = owner_api.get("/api/v1/projects")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response  # not counted, and not pretending to be


def test_django_error_pages_replaced_by_the_envelope_keep_the_rate_limit_headers(owner_api, settings):
    settings.ALLOWED_HOSTS = ["only.example.com"]
    response = owner_api.get("/api/v1/projects", HTTP_HOST="evil.example.com")
    assert_envelope(response, 400, "INVALID_REQUEST")
    assert all(header in response for header in RATE_HEADERS)


def test_spraying_tenant_ids_hits_the_per_user_ceiling(settings, api, owner):
    import uuid

    settings.RATE_LIMIT_REQUESTS = 100
    settings.RATE_LIMIT_USER_REQUESTS = 4
    responses = [api(owner, tenant_header=str(uuid.uuid4())).get("/api/v1/projects") for _ in range(5)]

    assert [r.status_code for r in responses] == [403, 403, 403, 403, 429]
    assert responses[-1]["X-RateLimit-Limit"] == "4" and responses[-1]["Retry-After"]


def test_with_redis_a_request_is_counted_in_one_round_trip(settings, owner, tenant, monkeypatch, rf):
    """Both buckets (user+tenant, user) in one pipeline; the counts agree with peek()."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache
    from django.http import HttpResponse
    from redis.client import Pipeline, Redis

    from accounts.tokens import access_token_for
    from imagefactory.core import ratelimit
    from testing.tools import SERVICES_ONLY, need

    need(isinstance(caches["default"], RedisCache), SERVICES_ONLY)
    settings.RATE_LIMIT_REQUESTS = 100
    request = rf.get(
        "/api/v1/builds", HTTP_AUTHORIZATION=f"Bearer {access_token_for(owner)}", HTTP_X_TENANT_ID=str(tenant.pk)
    )
    round_trips: list[str] = []
    real_execute, real_command = Pipeline.execute, Redis.execute_command

    def pipeline_execute(self, *args, **kwargs):
        round_trips.append("pipeline")
        return real_execute(self, *args, **kwargs)

    def execute_command(self, *args, **kwargs):
        if not isinstance(self, Pipeline):  # a pipeline queues its commands: no round trip
            round_trips.append(str(args[0]))
        return real_command(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", pipeline_execute)
    monkeypatch.setattr(Redis, "execute_command", execute_command)
    response = ratelimit.RateLimitMiddleware(lambda request: HttpResponse())(request)
    monkeypatch.undo()

    assert round_trips == ["pipeline"]
    assert response["X-RateLimit-Remaining"] == "99"
    scopes = ratelimit.user_scopes(owner.pk, str(tenant.pk))
    assert [ratelimit.peek(scope, limit=limit, window_seconds=3600).count for scope, limit in scopes] == [1, 1]
