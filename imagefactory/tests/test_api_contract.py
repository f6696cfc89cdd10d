"""The API against its OpenAPI documents, end to end: schemathesis' CLI against a real daphne server.

Our own schema with every check, positive and negative generation; the original published file
(docs/reference/original-openapi.yaml) for server errors and documented response shapes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from builds.api import examples as build_examples
from builds.models import BuildLogLine
from testing import ROOT, Stack, access_token_for

# Generating and sending a few thousand requests: more than the suite's default 300 s on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SEED = 20260115
MAX_EXAMPLES = 20
ORIGINAL_OPENAPI = ROOT / "docs" / "reference" / "original-openapi.yaml"
SCHEMATHESIS = Path(sys.executable).with_name("st")
# Operations that would end the run's own session: every later request would be a 401.
SESSION_ENDING_OPERATIONS = ["logoutAll"]
# Schema-valid requests these operations refuse with 400 because of what the database holds, not
# because of their shape: an unknown project_id (createBuild, createWebhook, updateWebhook), an email
# of no registered user or an unknown role (addMember, updateMember). No JSON Schema can say which ids
# or users exist.
REFERENCES_OTHER_OBJECTS = ["createBuild", "addMember", "updateMember", "createWebhook", "updateWebhook"]
# Builds go with their project (DELETE /projects/{id} deletes its builds): a stateful scenario that
# creates a build and then deletes its project finds the build gone, which schemathesis' "created
# resource not found" check (stateful phase only, configurable only for the whole run) takes for a
# lost resource. Every other check stays on.
CASCADE_BLIND_CHECKS = ["ensure_resource_availability"]
UNLIMITED = str(10**9)


@pytest.fixture
def contract_stack(transactional_db, tmp_path):
    """daphne in production mode (DEBUG off, static files through WhiteNoise), rate limits lifted."""
    running = Stack(
        tmp_path / "stack",
        extra_env={
            "DEBUG": "0",
            "RATE_LIMIT_REQUESTS": UNLIMITED,
            "RATE_LIMIT_USER_REQUESTS": UNLIMITED,
            "LOGIN_RATE_LIMIT": UNLIMITED,
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture
def seeded(transactional_db, make_user, make_tenant, make_project, make_build):
    """A tenant with projects, builds in every state with log lines, and members; the run acts as a
    system administrator, so no generated DELETE /members/{id} can remove its own access."""
    admin = make_user("contract-admin@example.com", superuser=True)
    owner, developer, viewer = (make_user(f"{name}@example.com") for name in ("owner", "developer", "viewer"))
    outsiders = [make_user("sam@example.com"), make_user("kim@example.com")]  # registered, in no tenant yet
    # (sam@example.com is the one the docs' addMember example adds)
    tenant = make_tenant("contract", members={owner: "owner", developer: "developer", viewer: "viewer"})
    projects = [
        make_project(
            tenant, pk=build_examples.PROJECT_ID, name="payments-api", repository_url="file:///nonexistent/a.git"
        ),
        *(make_project(tenant, name=f"service-{i}", repository_url="file:///nonexistent/b.git") for i in range(3)),
    ]
    now = timezone.now()
    builds = [
        make_build(projects[0], pk=build_examples.BUILD_ID, status="queued"),
        make_build(projects[0], status="queued"),
        make_build(
            projects[1], status="in_progress", started_at=now, slot_acquired_at=now, current_step=2, total_steps=5
        ),
        make_build(
            projects[1],
            status="success",
            started_at=now,
            completed_at=now,
            image_reference="registry.example.com/app:1",
            image_digest="sha256:" + "0" * 64,
        ),
        make_build(projects[2], status="failed", started_at=now, completed_at=now, error_message="exit 1"),
        make_build(projects[2], status="failed", started_at=now, completed_at=now, error_message="exit 2"),
        make_build(projects[3], status="cancelled", completed_at=now, cancel_reason="superseded"),
    ]
    for build in builds[3:]:
        BuildLogLine.objects.bulk_create(
            BuildLogLine(build=build, seq=i + 1, timestamp=now, message=f"STEP {i}", metadata={"step": "build"})
            for i in range(5)
        )
    return {
        "token": access_token_for(admin),
        "tenant_id": str(tenant.pk),
        "project_ids": [str(p.pk) for p in projects],
        "build_ids": [str(b.pk) for b in builds],
        "member_ids": list(tenant.memberships.values_list("pk", flat=True)),
        "emails": [user.email for user in (*outsiders, owner, developer)],
        "roles": ["developer", "viewer", "owner"],
    }


def _toml(value) -> str:
    return json.dumps(value)  # JSON strings, numbers and arrays are TOML too


def write_config(path: Path, seeded: dict) -> Path:
    """Half of the generated ids, of createBuild's project_id and of the members' emails and roles exist."""
    lines = [
        "[dictionaries.build_ids]",
        f"values = {_toml(seeded['build_ids'])}",
        "[dictionaries.project_ids]",
        f"values = {_toml(seeded['project_ids'])}",
        "[dictionaries.member_ids]",
        f"values = {_toml(seeded['member_ids'])}",
        "[dictionaries.emails]",
        f"values = {_toml(seeded['emails'])}",
        "[dictionaries.roles]",
        f"values = {_toml(seeded['roles'])}",
        "[parameters]",
        '"path.build_id" = { dictionary = "build_ids", probability = 0.5 }',
        '"path.project_id" = { dictionary = "project_ids", probability = 0.5 }',
        '"path.member_id" = { dictionary = "member_ids", probability = 0.5 }',
        '"body.project_id" = { dictionary = "project_ids", probability = 0.5 }',
        '"body.email" = { dictionary = "emails", probability = 0.5 }',
        '"body.role" = { dictionary = "roles", probability = 0.5 }',
        "[[operations]]",
        f"include-operation-id = {_toml(REFERENCES_OTHER_OBJECTS)}",
        "checks.positive_data_acceptance.expected-statuses = " + _toml(["2xx", "400", "401", "403", "404", "409"]),
    ]
    if SESSION_ENDING_OPERATIONS:
        lines += ["[[operations]]", f"include-operation-id = {_toml(SESSION_ENDING_OPERATIONS)}", "enabled = false"]
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis(*arguments: str, output: Path, config: Path | None = None, timeout: int = 720) -> tuple[int, str]:
    """Runs `st run`, its report written to `output` as it goes (tail it to watch); (exit code, report)."""
    command = [str(SCHEMATHESIS), *(["--config-file", str(config)] if config else []), "--no-color", "run", *arguments]
    with output.open("w") as sink:
        returncode = subprocess.run(
            command, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout, cwd=output.parent
        ).returncode
    return returncode, output.read_text()


def cases_tested(output: str) -> int:
    match = re.search(r"(\d+) test cases? generated", output) or re.search(r"(\d+) generated", output)
    return int(match.group(1)) if match else 0


def test_the_server_keeps_every_promise_of_its_own_schema(contract_stack, seeded, tmp_path):
    returncode, report = schemathesis(
        f"{contract_stack.base_url}/api/v1/schema/?format=json",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(CASCADE_BLIND_CHECKS),
        "--mode",
        "all",
        "-w",
        "1",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--request-timeout",
        "30",
        "-H",
        f"Authorization: Bearer {seeded['token']}",
        "-H",
        f"X-Tenant-ID: {seeded['tenant_id']}",
        config=write_config(tmp_path / "schemathesis.toml", seeded),
        output=tmp_path / "schemathesis.log",
    )
    print(report[-6000:])
    print(f"schemathesis: {cases_tested(report)} test cases against our schema")

    assert returncode == 0, report[-20000:] + contract_stack.logs()
    assert cases_tested(report) > 200


def test_the_server_keeps_the_shapes_of_the_original_openapi_file(contract_stack, seeded, tmp_path):
    returncode, report = schemathesis(
        str(ORIGINAL_OPENAPI),
        "--url",
        f"{contract_stack.base_url}/api/v1",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "-w",
        "1",
        "--seed",
        str(SEED),
        "--max-examples",
        "20",
        "--request-timeout",
        "30",
        "-H",
        f"Authorization: Bearer {seeded['token']}",
        "-H",
        f"X-Tenant-ID: {seeded['tenant_id']}",
        output=tmp_path / "schemathesis.log",
    )
    print(report[-4000:])
    print(f"schemathesis: {cases_tested(report)} test cases against the original OpenAPI file")

    assert returncode == 0, report[-20000:] + contract_stack.logs()
    assert cases_tested(report) > 50
