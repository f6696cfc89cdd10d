"""/metrics in process: off without METRICS_TOKEN, the token check, the build figures read from the
database, the instruments' exposition, HTTP timing by route, and the Grafana dashboard's names."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from imagefactory.core import metrics
from testing import ROOT, Scrape, assert_envelope

TOKEN = "scrape-token-0123456789"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"


@pytest.fixture
def memory_store():
    """Instruments observe into a fresh in-memory store (both modes), restored afterwards."""
    store = metrics.MemoryStore()
    metrics.use_store(store)
    yield store
    metrics.use_store(None)


@pytest.fixture
def scrape(settings, memory_store):
    settings.METRICS_TOKEN = TOKEN

    def get() -> Scrape:
        response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content[:500]
        assert response["Content-Type"].startswith("text/plain; version=")
        return Scrape(response.content.decode())

    return get


# --- access ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_off_without_a_token_setting(settings):
    settings.METRICS_TOKEN = ""
    assert_envelope(Client().get("/metrics"), 404, "NOT_FOUND")
    assert_envelope(Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything"), 404, "NOT_FOUND")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization", [None, "", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Token {TOKEN}", TOKEN, "Bearer"]
)
def test_a_missing_or_wrong_token_is_401(settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client().get("/metrics", **headers)
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_the_token_opens_it_and_only_get_is_allowed(settings):
    settings.METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"# TYPE imagefactory_http_request_duration_seconds histogram" in response.content
    assert "X-RateLimit-Limit" not in response  # not the API's rate limit
    assert_envelope(Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.django_db
def test_not_in_the_openapi_schema(api, owner):
    schema = api(owner).get("/api/v1/schema/?format=json").json()
    assert not [path for path in schema["paths"] if "metrics" in path]


# --- builds, from the database ----------------------------------------------------------------


@pytest.mark.django_db
def test_builds_by_status_queue_and_running_per_tenant(scrape, make_tenant, make_project, make_build):
    from django.utils import timezone

    busy, idle = make_tenant(), make_tenant()
    project = make_project(busy)
    for _ in range(3):
        make_build(project, status="queued")
    make_build(project, status="in_progress")  # started, waiting for a slot
    make_build(project, status="in_progress", slot_acquired_at=timezone.now())  # running
    make_build(project, status="in_progress", slot_acquired_at=timezone.now())
    make_build(project, status="success")
    make_build(project, status="failed")

    figures = scrape()
    tenant = str(busy.pk)
    assert figures.value("imagefactory_builds", tenant_id=tenant, status="queued") == 3
    assert figures.value("imagefactory_builds", tenant_id=tenant, status="in_progress") == 3
    assert figures.value("imagefactory_builds", tenant_id=tenant, status="success") == 1
    assert figures.value("imagefactory_builds", tenant_id=tenant, status="failed") == 1
    assert figures.value("imagefactory_builds", tenant_id=tenant, status="cancelled") == 0
    assert figures.value("imagefactory_build_queue_depth", tenant_id=tenant, state="queued") == 3
    assert figures.value("imagefactory_build_queue_depth", tenant_id=tenant, state="waiting") == 1
    assert figures.value("imagefactory_builds_running", tenant_id=tenant) == 2
    # A tenant without builds shows zeros rather than no series.
    assert figures.value("imagefactory_builds_running", tenant_id=str(idle.pk)) == 0
    assert figures.value("imagefactory_build_queue_depth", tenant_id=str(idle.pk), state="queued") == 0


@pytest.mark.django_db
def test_the_build_figures_take_one_query(scrape, make_tenant, make_project, make_build, django_assert_num_queries):
    for _ in range(3):
        make_build(make_project(make_tenant()), status="queued")
    with django_assert_num_queries(1):
        scrape()


# --- instruments --------------------------------------------------------------------------------


def test_histogram_buckets_are_cumulative_by_labels(memory_store):
    histogram = metrics.Histogram("test_seconds", "a test histogram", ("kind",), buckets=(1, 5))
    metrics.INSTRUMENTS.remove(histogram)  # not exported by /metrics
    for value in (0.5, 1, 3, 7):
        histogram.observe(value, kind="a")
    histogram.observe(2, kind="b")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in histogram.collect().samples}
    assert samples[("test_seconds_bucket", (("kind", "a"), ("le", "1.0")))] == 2  # 0.5 and 1 (le is <=)
    assert samples[("test_seconds_bucket", (("kind", "a"), ("le", "5.0")))] == 3
    assert samples[("test_seconds_bucket", (("kind", "a"), ("le", "+Inf")))] == 4
    assert samples[("test_seconds_count", (("kind", "a"),))] == 4
    assert samples[("test_seconds_sum", (("kind", "a"),))] == 11.5
    assert samples[("test_seconds_bucket", (("kind", "b"), ("le", "1.0")))] == 0
    assert samples[("test_seconds_count", (("kind", "b"),))] == 1


def test_an_instrument_refuses_other_labels(memory_store):
    with pytest.raises(ValueError):
        metrics.HTTP_REQUEST_DURATION.observe(1, route="/x")


def test_an_unreachable_store_loses_the_observation_not_the_caller():
    class Down:
        calls = 0

        def increment(self, key, amounts):
            Down.calls += 1
            raise ConnectionError("redis is down")

    metrics.use_store(Down())  # type: ignore[arg-type]
    try:
        metrics.BUILD_LOG_LINES.inc(3)  # no exception
        metrics.BUILD_LOG_LINES.inc(3)  # dropped without asking the store again for a while
        assert Down.calls == 1
    finally:
        metrics.use_store(None)


@pytest.mark.django_db
def test_requests_are_timed_by_route_never_by_path(scrape, owner_api, project):
    import uuid

    owner_api.get(f"/api/v1/projects/{project.pk}")
    owner_api.get(f"/api/v1/projects/{uuid.uuid4()}")  # 404 from the same route
    Client().get("/no/such/page/" + uuid.uuid4().hex)
    figures = scrape()
    route = "/api/v1/projects/<str:project_id>"
    assert figures.value("imagefactory_http_request_duration_seconds_count", route=route, status="200") == 1
    assert figures.value("imagefactory_http_request_duration_seconds_count", route=route, status="404") == 1
    paths = {s.labels.get("route") for s in figures.samples}
    assert not [p for p in paths if p and (str(project.pk) in p or "no/such" in p)]


# --- the dashboard ------------------------------------------------------------------------------


def expressions(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["expr"]] if "expr" in node else []
        return own + [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in expressions(value)]
    return []


@pytest.mark.django_db
def test_the_grafana_dashboard_uses_only_exported_metrics(scrape, make_tenant):
    make_tenant()  # the per-tenant families have a sample
    dashboard = json.loads(DASHBOARD.read_text())
    used = {name for expr in expressions(dashboard) for name in re.findall(r"\bimagefactory_[a-z_]+", expr)}
    exported = scrape().series_names()
    assert used, "the dashboard has no imagefactory_ query"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert len(titles) == len(dashboard["panels"]) >= 9
