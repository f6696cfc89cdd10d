"""The tenant access a request reads from the cache (services mode: Redis) is never staler than the
last membership, role or tenant change: one query fewer per request, the same answers."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from testing import assert_envelope
from testing.tools import SERVICES_ONLY, need


@pytest.fixture(autouse=True)
def redis_cache():
    need(isinstance(caches["default"], RedisCache), SERVICES_ONLY)


def _membership_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return sum('"tenants_membership"' in query["sql"] for query in queries)


def test_the_second_request_reads_the_membership_from_the_cache(owner_api, project):
    assert _membership_queries(owner_api, "/api/v1/builds") == 1
    assert _membership_queries(owner_api, "/api/v1/builds") == 0
    assert _membership_queries(owner_api, f"/api/v1/projects/{project.pk}") == 0


def test_a_role_change_takes_effect_at_the_next_request(api, make_user, tenant, make_role, roles):
    from tenants.models import Membership

    member = make_user()
    membership = Membership.objects.create(user=member, tenant=tenant, role=roles["developer"])
    client = api(member, tenant)
    assert client.get("/api/v1/builds").status_code == 200
    assert client.get("/api/v1/builds").status_code == 200  # now cached

    membership.role = make_role(["project:list"])
    membership.save()
    assert_envelope(client.get("/api/v1/builds"), 403, "FORBIDDEN")

    membership.role.permissions = ["project:list", "build:list"]
    membership.role.save()
    assert client.get("/api/v1/builds").status_code == 200


def test_removal_and_suspension_take_effect_at_the_next_request(owner_api, owner, tenant, project):
    from tenants.models import Membership, TenantStatus

    create = {"project_id": str(project.pk), "git_branch": "main"}
    assert owner_api.post("/api/v1/builds", create, format="json").status_code == 201
    assert owner_api.get("/api/v1/builds").status_code == 200

    tenant.status = TenantStatus.SUSPENDED
    tenant.save()
    assert_envelope(owner_api.post("/api/v1/builds", create, format="json"), 403, "FORBIDDEN")
    assert owner_api.get("/api/v1/builds").status_code == 200

    Membership.objects.filter(user=owner, tenant=tenant).delete()
    assert_envelope(owner_api.get("/api/v1/builds"), 403, "FORBIDDEN")
