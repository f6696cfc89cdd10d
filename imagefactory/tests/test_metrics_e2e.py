"""/metrics and LOG_FORMAT=json end to end: a real build through real daphne (+ a Celery worker in
services mode), buildah and a registry, watched over a real WebSocket, then scraped and its logs read."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid

import pytest
import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from testing import Scrape, Stack, StackClient, assert_envelope, need, wait_until

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]

TOKEN = f"metrics-{uuid.uuid4().hex}"
CONTEXT_KEYS = {"time", "level", "logger", "message", "trace_id", "tenant_id", "build_id", "user_id"}


@pytest.fixture(scope="module")
def metrics_stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """A stack of its own: METRICS_TOKEN set and JSON logs, in the server and the worker."""
    need(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")
    running = Stack(tmp_path_factory.mktemp("metrics-stack"), extra_env={"METRICS_TOKEN": TOKEN, "LOG_FORMAT": "json"})
    with django_db_blocker.unblock():
        running.start()
    yield running
    running.stop()


def scrape(stack: Stack) -> Scrape:
    response = requests.get(f"{stack.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return Scrape(response.text)


def json_lines(stack: Stack) -> list[dict]:
    """Every log line the stack's processes wrote as JSON (Celery's banner and daphne's own prints are not)."""
    lines = []
    for path in sorted(stack.workdir.glob("*.log")):
        for raw in path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                document = json.loads(raw)
                assert CONTEXT_KEYS <= set(document), (path.name, document)
                lines.append(document)
    return lines


def test_the_token_is_required(metrics_stack):
    url = f"{metrics_stack.base_url}/metrics"
    assert_envelope(requests.get(url, timeout=30), 401, "UNAUTHORIZED")
    assert_envelope(requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=30), 401, "UNAUTHORIZED")
    assert "imagefactory_builds_running" in {f.name for f in scrape(metrics_stack).families}


def test_a_build_is_counted_timed_and_logged_with_its_ids(
    metrics_stack, transactional_db, owner, tenant, engine_project
):
    client = StackClient(metrics_stack, owner, tenant)
    tenant_id = str(tenant.pk)
    before = scrape(metrics_stack)
    build = client.create_build(engine_project())
    trace_id = f"metrics-e2e-{uuid.uuid4().hex}"
    stream_url = f"{metrics_stack.ws_url}/api/v1/builds/{build['id']}/logs/stream"
    headers = {"Authorization": f"Bearer {client.token}", "X-Tenant-ID": client.tenant_id}

    def stream_clients() -> float:
        return scrape(metrics_stack).value("imagefactory_stream_clients") or 0

    async def watch_the_build() -> list[dict]:
        messages = []
        async with connect(stream_url, additional_headers=headers, open_timeout=20) as ws:
            await asyncio.to_thread(
                wait_until, lambda: stream_clients() == 1, timeout=60, interval=0.5, what="one stream client"
            )
            response = await asyncio.to_thread(
                client.post, f"/builds/{build['id']}/start", headers={"X-Request-ID": trace_id}
            )
            assert response.status_code == 200, response.text
            try:
                async with asyncio.timeout(300):
                    async for raw in ws:
                        messages.append(json.loads(raw))
            except ConnectionClosed:
                pass
        return messages

    messages = asyncio.run(watch_the_build())
    assert messages[-1]["message"] == "Build finished: success", messages[-1]
    wait_until(lambda: stream_clients() == 0, timeout=60, interval=0.5, what="no stream client")

    # The worker observes the duration after the build is seen to end: wait for it.
    duration_count = "imagefactory_build_duration_seconds_count"
    done_before = before.value(duration_count, status="success") or 0

    def duration_observed() -> Scrape | None:
        figures = scrape(metrics_stack)
        return figures if (figures.value(duration_count, status="success") or 0) > done_before else None

    after = wait_until(duration_observed, timeout=60, interval=0.5, what="the build's duration observed")
    assert after.value(duration_count, status="success") == done_before + 1
    assert after.value("imagefactory_build_duration_seconds_sum", status="success") > (
        before.value("imagefactory_build_duration_seconds_sum", status="success") or 0
    )
    first_line = "imagefactory_build_time_to_first_line_seconds_count"
    assert after.value(first_line) == (before.value(first_line) or 0) + 1

    # Builds by status and per tenant come from the database.
    assert after.value("imagefactory_builds", tenant_id=tenant_id, status="success") == 1
    assert after.value("imagefactory_builds", tenant_id=tenant_id, status="in_progress") == 0
    assert after.value("imagefactory_builds_running", tenant_id=tenant_id) == 0
    assert after.value("imagefactory_build_queue_depth", tenant_id=tenant_id, state="waiting") == 0

    # Every stored line was counted once, whichever process stored it.
    stored = len(client.log_entries(build["id"]))
    lines_total = "imagefactory_build_log_lines_total"
    assert stored > 3
    assert after.value(lines_total) - (before.value(lines_total) or 0) == stored

    # HTTP latency by route (the pattern, not the path), method and status.
    start_route = "/api/v1/builds/<str:build_id>/start"
    requests_count = "imagefactory_http_request_duration_seconds_count"
    assert after.value(requests_count, route=start_route, method="POST", status="200") == 1
    assert after.value(requests_count, route="/api/v1/builds", method="POST", status="201") >= 1
    assert not [s for s in after.samples if build["id"] in s.labels.get("route", "")]

    # JSON logs: the start request's line carries its trace, tenant and user; the worker's build lines
    # (daphne's pool when embedded, the Celery worker in services mode) carry the build and tenant.
    lines = json_lines(metrics_stack)
    start_lines = [line for line in lines if line["trace_id"] == trace_id]
    assert start_lines, [line for line in lines if line["logger"] == "imagefactory.access"][-5:]
    assert all(line["tenant_id"] == tenant_id and line["user_id"] == str(owner.pk) for line in start_lines)
    assert any(line["logger"] == "imagefactory.access" and line["route"] == start_route for line in start_lines)
    build_lines = [line for line in lines if line["build_id"] == build["id"]]
    assert {line["message"] for line in build_lines} >= {
        f"running build #{build['build_number']} of project {build['project_id']}",
        f"build #{build['build_number']} ended success",
    }, build_lines
    assert all(line["tenant_id"] == tenant_id for line in build_lines)
    # Nothing logged in the text format (it prints "trace_id=" on every line).
    assert not [
        raw
        for path in metrics_stack.workdir.glob("*.log")
        for raw in path.read_text().splitlines()
        if "trace_id=" in raw
    ]
