"""Limits of the builds API: the tenant's queued-build limit, request rate headers, SQL query counts."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builds.models import Build
from testing import assert_envelope

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _fill_queue(project, count: int, *, status: str = "queued") -> None:
    first = project.build_counter + 1
    Build.objects.bulk_create(
        Build(tenant=project.tenant, project=project, build_number=first + i, git_branch="main", status=status)
        for i in range(count)
    )
    project.build_counter += count
    project.save(update_fields=["build_counter"])


def _create(client, project):
    return client.post("/api/v1/builds", {"project_id": str(project.pk), "git_branch": "main"}, format="json")


def _assert_queue_full(response, limit: int) -> None:
    body = assert_envelope(response, 429, "RATE_LIMITED")
    assert body["details"]["reason"] == "queue_full"
    assert body["details"]["limit"] == limit
    assert int(response["Retry-After"]) >= 1


def test_default_queue_limit_is_100(owner_api, project, settings, make_tenant, make_project, make_user):
    assert settings.DEFAULT_MAX_QUEUED_BUILDS == 100
    _fill_queue(project, 99)
    _fill_queue(project, 5, status="in_progress")  # only queued builds count
    _fill_queue(make_project(make_tenant(members={make_user(): "owner"})), 100)  # another tenant's queue

    assert _create(owner_api, project).status_code == 201
    response = _create(owner_api, project)

    _assert_queue_full(response, 100)
    assert Build.objects.filter(tenant=project.tenant, status="queued").count() == 100


@pytest.mark.parametrize(("override", "setting", "limit"), [(3, 100, 3), (None, 2, 2), (150, 100, 150)])
def test_queue_limit_per_tenant_override_and_setting(owner_api, project, tenant, settings, override, setting, limit):
    settings.DEFAULT_MAX_QUEUED_BUILDS = setting
    tenant.max_queued_builds = override
    tenant.save(update_fields=["max_queued_builds"])
    _fill_queue(project, limit - 1)

    assert _create(owner_api, project).status_code == 201
    _assert_queue_full(_create(owner_api, project), limit)


def test_queue_limit_applies_to_retries_and_frees_up(owner_api, project, tenant, make_build):
    tenant.max_queued_builds = 1
    tenant.save(update_fields=["max_queued_builds"])
    failed = make_build(project, status="failed")
    queued = make_build(project)

    _assert_queue_full(owner_api.post(f"/api/v1/builds/{failed.pk}/retry"), 1)
    assert owner_api.post(f"/api/v1/builds/{queued.pk}/cancel").status_code == 200

    assert owner_api.post(f"/api/v1/builds/{failed.pk}/retry").status_code == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/builds"),
        ("get", "/api/v1/builds/not-a-uuid"),
        ("post", "/api/v1/builds"),
        ("get", "/api/v1/projects"),
    ],
)
def test_every_api_response_carries_rate_limit_headers(owner_api, method, path):
    response = getattr(owner_api, method)(path)

    assert int(response["X-RateLimit-Limit"]) == 1000
    assert 0 <= int(response["X-RateLimit-Remaining"]) < 1000
    assert int(response["X-RateLimit-Reset"]) >= int(time.time())


def test_over_the_request_limit_is_429(owner_api, settings):
    settings.RATE_LIMIT_REQUESTS = 3
    remaining = [int(owner_api.get("/api/v1/builds")["X-RateLimit-Remaining"]) for _ in range(3)]

    response = owner_api.get("/api/v1/builds")

    assert remaining == [2, 1, 0]
    assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert all(name in response for name in RATE_HEADERS)


# --- SQL queries: constant whatever the page size --------------------------------------------


@pytest.fixture
def many_builds(tenant, make_project, make_build, owner):
    projects = [make_project(tenant) for _ in range(3)]
    builds = [
        make_build(
            projects[i % 3], status=("failed", "success", "queued")[i % 3], created_by=owner, build_args={"A": str(i)}
        )
        for i in range(60)
    ]
    for previous, build in zip(builds[::3], builds[3::3], strict=False):
        Build.objects.filter(pk=build.pk).update(retry_of=previous)  # related rows must not cost queries
    return projects


def _count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/builds?limit={limit}",
        "/api/v1/builds?limit={limit}&sort_by=build_number&sort_order=asc&status=failed",
        "/api/v1/projects?limit={limit}",
    ],
)
def test_list_queries_do_not_grow_with_limit(
    owner_api, many_builds, django_assert_max_num_queries, django_assert_num_queries, path
):
    _count_queries(owner_api, path.format(limit=1))  # services mode: the tenant access is cached from here on
    baseline = _count_queries(owner_api, path.format(limit=1))

    with django_assert_num_queries(baseline):
        big = owner_api.get(path.format(limit=100))
    with django_assert_max_num_queries(6):
        owner_api.get(path.format(limit=50))

    key = "projects" if "projects" in path else "builds"
    assert len(big.json()[key]) == big.json()["total_count"] > 1
