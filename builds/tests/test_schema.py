"""The generated OpenAPI document against the real server: schemathesis on every operation."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from builds.models import BuildLogLine
from testing import access_token_for

pytestmark = [pytest.mark.e2e]

EXAMPLES_PER_OPERATION = 15
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]


@pytest.fixture
def seeded(transactional_db, owner, tenant, make_project, make_build):
    """Committed data the server sees: a project and builds in every state, one with log lines."""
    project = make_project(tenant, name="app", repository_url="file:///nonexistent/schema-tests.git")
    now = timezone.now()
    builds = [
        make_build(project, status="queued"),
        make_build(project, status="in_progress", started_at=now, slot_acquired_at=now, current_step=2, total_steps=5),
        make_build(
            project,
            status="success",
            started_at=now,
            completed_at=now,
            image_reference="r/app:1",
            image_digest="sha256:" + "0" * 64,
        ),
        make_build(project, status="failed", started_at=now, completed_at=now, error_message="exit 1"),
        make_build(project, status="cancelled", completed_at=now, cancel_reason="no"),
    ]
    BuildLogLine.objects.bulk_create(
        BuildLogLine(build=builds[3], seq=i + 1, timestamp=now, message=f"line {i}", metadata={"step": "build"})
        for i in range(5)
    )
    return {"project_ids": [str(project.pk)], "build_ids": [str(b.pk) for b in builds]}


@pytest.fixture
def live_schema(stack, seeded):
    return schemathesis.openapi.from_url(f"{stack.base_url}/api/v1/schema/?format=json", timeout=30)


@pytest.fixture
def auth_headers(owner, tenant):
    return {"Authorization": f"Bearer {access_token_for(owner)}", "X-Tenant-ID": str(tenant.pk)}


def _point_at_seeded_objects(case, seeded) -> None:
    """Half of the generated ids are replaced by real ones, so existing objects are exercised too."""
    for name, pool in (("build_id", seeded["build_ids"]), ("project_id", seeded["project_ids"])):
        value = (case.path_parameters or {}).get(name)
        if value is not None:
            digest = uuid.uuid5(uuid.NAMESPACE_URL, str(value)).int
            if digest % 2:
                case.path_parameters[name] = pool[digest % len(pool)]
    if isinstance(case.body, dict) and "project_id" in case.body and case.operation.label == "POST /api/v1/builds":
        if uuid.uuid5(uuid.NAMESPACE_URL, str(case.body["project_id"])).int % 2:
            case.body["project_id"] = seeded["project_ids"][0]


def _run_operation(operation, mode, *, stack, seeded, auth_headers) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        _point_at_seeded_objects(case, seeded)
        case.call_and_validate(base_url=stack.base_url, headers=auth_headers, checks=CHECKS, timeout=30)

    run()


# schemathesis' own pytest integration (schema.parametrize) reads Node._nodeid, gone in pytest 9:
# the operations are driven through hypothesis directly, every failure reported at the end.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_matches_the_schema(live_schema, stack, seeded, auth_headers, mode):
    operations = [result.ok() for result in live_schema.get_all_operations()]
    assert len(operations) >= 20
    failures = {}

    for operation in operations:
        try:
            _run_operation(operation, mode, stack=stack, seeded=seeded, auth_headers=auth_headers)
        except Exception as exc:  # noqa: BLE001 — collected and reported together below
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]

    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())


def test_schema_documents_headers_and_build_paths(live_schema):
    raw = live_schema.raw_schema
    builds = raw["paths"]["/api/v1/builds"]
    create_201 = builds["post"]["responses"]["201"]["headers"]

    assert {
        "Location",
        "Idempotent-Replayed",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    } <= set(create_201)
    assert "Retry-After" in builds["post"]["responses"]["429"]["headers"]
    assert "Location" in raw["paths"]["/api/v1/builds/{build_id}/retry"]["post"]["responses"]["201"]["headers"]
    assert set(raw["components"]["headers"]) >= {"X-RateLimit-Limit", "Retry-After", "Location"}
    for path, operations in raw["paths"].items():
        for operation in operations.values():
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path
    statuses = raw["components"]["schemas"]["BuildStatusEnum"]["enum"]
    assert statuses == ["queued", "in_progress", "success", "failed", "cancelled"]
