"""Builds REST API lifecycle: every action in every state, the Build JSON, /status and /logs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from builds.models import Build, BuildLogLine, BuildStatus
from testing import assert_envelope

STATUSES = [s.value for s in BuildStatus]

# action -> {status it is applied in: (HTTP code, status the build has afterwards)}
EXPECTED = {
    "start": {
        "queued": (200, "in_progress"),
        "in_progress": (409, None),
        "success": (409, None),
        "failed": (409, None),
        "cancelled": (409, None),
    },
    "cancel": {
        "queued": (200, "cancelled"),
        "in_progress": (200, "cancelled"),
        "success": (409, None),
        "failed": (409, None),
        "cancelled": (409, None),
    },
    "retry": {
        "queued": (409, None),
        "in_progress": (409, None),
        "success": (409, None),
        "failed": (201, "failed"),
        "cancelled": (201, "cancelled"),
    },
    "delete": {
        "queued": (204, None),
        "in_progress": (409, None),
        "success": (204, None),
        "failed": (204, None),
        "cancelled": (204, None),
    },
}
TABLE = [(action, status, *EXPECTED[action][status]) for action in EXPECTED for status in STATUSES]


def _call(client, action: str, build_id):
    if action == "delete":
        return client.delete(f"/api/v1/builds/{build_id}")
    return client.post(f"/api/v1/builds/{build_id}/{action}", format="json")


def test_the_table_covers_every_action_in_every_state():
    assert {(a, s) for a, s, *_ in TABLE} == {(a, s) for a in ("start", "cancel", "retry", "delete") for s in STATUSES}


@pytest.mark.parametrize(("action", "status", "code", "after"), TABLE, ids=[f"{a}-{s}" for a, s, *_ in TABLE])
def test_action_in_state(owner_api, project, make_build, action, status, code, after):
    build = make_build(project, status=status, git_commit="abc1234", build_args={"A": "1"})

    response = _call(owner_api, action, build.pk)

    assert response.status_code == code, response.content
    if code == 409:
        body = assert_envelope(response, 409, "CONFLICT")
        assert body["details"]["status"] == status
        build.refresh_from_db()
        assert build.status == status  # a refused action changes nothing
        return
    if action == "delete":
        assert not Build.objects.filter(pk=build.pk).exists()
        return
    build.refresh_from_db()
    assert build.status == after
    if action == "retry":
        assert Build.objects.filter(retry_of=build).count() == 1
    else:
        assert response.json()["id"] == str(build.pk)
        assert response.json()["status"] == after


def test_start_sets_started_at(owner_api, project, make_build):
    build = make_build(project)
    before = timezone.now()

    body = owner_api.post(f"/api/v1/builds/{build.pk}/start").json()

    assert body["status"] == "in_progress"
    assert parse_datetime(body["started_at"]) >= before
    assert body["completed_at"] is None


@pytest.mark.parametrize("status", ["queued", "in_progress"])
@pytest.mark.parametrize(
    ("payload", "stored_reason"),
    [
        ({"reason": "wrong branch"}, "wrong branch"),
        ({}, "Cancelled by user"),
        (None, "Cancelled by user"),
    ],
)
def test_cancel_stores_reason_and_completed_at(owner_api, project, make_build, status, payload, stored_reason):
    build = make_build(project, status=status, started_at=timezone.now() if status == "in_progress" else None)
    before = timezone.now()

    response = owner_api.post(f"/api/v1/builds/{build.pk}/cancel", payload, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == stored_reason
    assert parse_datetime(body["completed_at"]) >= before
    build.refresh_from_db()
    assert (build.status, build.cancel_reason) == ("cancelled", stored_reason)


def test_cancel_rejects_unknown_fields(owner_api, project, make_build):
    build = make_build(project)

    response = owner_api.post(f"/api/v1/builds/{build.pk}/cancel", {"reasn": "typo"}, format="json")

    assert assert_envelope(response, 400, "INVALID_REQUEST")["details"] == {"reasn": "Unknown field."}
    build.refresh_from_db()
    assert build.status == "queued"


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_retry_creates_a_new_queued_build_with_the_same_inputs(owner_api, project, make_build, status):
    make_build(project, status="success")
    original = make_build(
        project,
        status=status,
        git_branch="release/1.2",
        git_commit="abcdef1234567",
        build_args={"GREETING": "hi", "EMPTY": ""},
        error_message="boom",
    )

    response = owner_api.post(f"/api/v1/builds/{original.pk}/retry")

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/builds/{body['id']}")
    assert body["id"] != str(original.pk)
    assert body["status"] == "queued"
    assert body["build_number"] == original.build_number + 1
    assert body["retry_of"] == str(original.pk)
    assert body["project_id"] == str(project.pk)
    assert (body["git_branch"], body["git_commit"], body["build_args"]) == (
        "release/1.2",
        "abcdef1234567",
        {"GREETING": "hi", "EMPTY": ""},
    )
    assert (body["error_message"], body["started_at"], body["completed_at"]) == (None, None, None)
    assert owner_api.get(response["Location"]).json() == body


def test_a_build_is_retried_once_then_through_the_newest_attempt(owner_api, project, make_build):
    original = make_build(project, status="failed")
    first = owner_api.post(f"/api/v1/builds/{original.pk}/retry")
    assert first.status_code == 201

    again = owner_api.post(f"/api/v1/builds/{original.pk}/retry")

    body = assert_envelope(again, 409, "CONFLICT")
    assert body["details"]["status"] == "failed"
    assert Build.objects.filter(retry_of=original).count() == 1
    assert Build.objects.count() == 2


def test_delete_removes_the_log_lines_too(owner_api, project, make_build, make_log_lines):
    build = make_build(project, status="failed")
    other = make_build(project, status="failed")
    make_log_lines(build, 5)
    make_log_lines(other, 2)

    response = owner_api.delete(f"/api/v1/builds/{build.pk}")

    assert response.status_code == 204
    assert response.content == b""
    assert not BuildLogLine.objects.filter(build_id=build.pk).exists()
    assert BuildLogLine.objects.filter(build_id=other.pk).count() == 2
    assert_envelope(owner_api.get(f"/api/v1/builds/{build.pk}"), 404, "NOT_FOUND")


def test_deleting_a_retried_build_keeps_its_retry(owner_api, project, make_build):
    original = make_build(project, status="failed")
    retry_id = owner_api.post(f"/api/v1/builds/{original.pk}/retry").json()["id"]

    assert owner_api.delete(f"/api/v1/builds/{original.pk}").status_code == 204

    assert owner_api.get(f"/api/v1/builds/{retry_id}").json()["retry_of"] is None


# --- The Build JSON ------------------------------------------------------------------------

GUIDE_FIELDS = {"id", "project_id", "build_number", "git_branch", "status", "created_at", "updated_at"}
ISSUE_FIELDS = {
    "git_commit",
    "started_at",
    "completed_at",
    "error_message",
    "retry_of",
    "image_reference",
    "image_digest",
    "build_args",
}


def test_build_json_carries_the_guide_and_issue_fields(owner_api, project, make_build):
    started = timezone.now() - timedelta(minutes=3)
    build = make_build(
        project,
        status="success",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        build_args={"A": "b"},
        started_at=started,
        completed_at=started + timedelta(minutes=2),
        image_reference="registry.example.com/app:build-1",
        image_digest="sha256:" + "a" * 64,
    )

    body = owner_api.get(f"/api/v1/builds/{build.pk}").json()

    assert GUIDE_FIELDS | ISSUE_FIELDS <= set(body)
    assert body["id"] == str(build.pk)
    assert body["project_id"] == str(project.pk)
    assert body["build_number"] == build.build_number
    assert body["git_commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert body["build_args"] == {"A": "b"}
    assert body["image_reference"] == "registry.example.com/app:build-1"
    assert body["image_digest"] == "sha256:" + "a" * 64
    assert parse_datetime(body["started_at"]) == started
    assert body["retry_of"] is None and body["error_message"] is None
    assert body["created_at"].endswith("Z") or "+" in body["created_at"]


@pytest.mark.parametrize("raw_id", ["not-a-uuid", "123", "0000", "6f1c2b4e-zzzz-4a0e-8c1a-1d1d1d1d1d1d"])
@pytest.mark.parametrize("suffix", ["", "/status", "/logs", "/start", "/cancel", "/retry", "DELETE"])
def test_malformed_build_id_is_400(owner_api, raw_id, suffix):
    if suffix == "DELETE":
        response = owner_api.delete(f"/api/v1/builds/{raw_id}")
    elif suffix in ("/start", "/cancel", "/retry"):
        response = owner_api.post(f"/api/v1/builds/{raw_id}{suffix}")
    else:
        response = owner_api.get(f"/api/v1/builds/{raw_id}{suffix}")

    assert "id" in assert_envelope(response, 400, "INVALID_REQUEST")["details"]


@pytest.mark.parametrize("suffix", ["", "/status", "/logs", "/start", "/cancel", "/retry", "DELETE"])
def test_unknown_and_other_tenants_builds_answer_404_alike(
    api, make_user, make_tenant, make_project, make_build, owner_api, suffix
):
    stranger = make_user()
    foreign = make_build(make_project(make_tenant(members={stranger: "owner"})), status="failed")

    def call(build_id):
        if suffix == "DELETE":
            return owner_api.delete(f"/api/v1/builds/{build_id}")
        if suffix in ("/start", "/cancel", "/retry"):
            return owner_api.post(f"/api/v1/builds/{build_id}{suffix}")
        return owner_api.get(f"/api/v1/builds/{build_id}{suffix}")

    unknown = assert_envelope(call(uuid.uuid4()), 404, "NOT_FOUND")
    other = assert_envelope(call(foreign.pk), 404, "NOT_FOUND")

    assert (unknown["error"], unknown["details"]) == (other["error"], other["details"])
    foreign.refresh_from_db()
    assert foreign.status == "failed" and Build.objects.count() == 1


@pytest.mark.parametrize(
    ("role", "method", "suffix", "allowed"),
    [
        ("viewer", "get", "", True),
        ("viewer", "get", "/status", True),
        ("viewer", "get", "/logs", True),
        ("viewer", "post", "/start", False),
        ("viewer", "post", "/cancel", False),
        ("viewer", "post", "/retry", False),
        ("viewer", "delete", "", False),
        ("developer", "post", "/start", True),
        ("developer", "post", "/cancel", True),
        ("developer", "delete", "", False),
    ],
)
def test_role_permissions_per_endpoint(
    api, make_user, tenant, project, make_build, roles, role, method, suffix, allowed
):
    from tenants.models import Membership

    member = make_user()
    Membership.objects.create(user=member, tenant=tenant, role=roles[role])
    build = make_build(project, status="queued")

    response = getattr(api(member, tenant), method)(f"/api/v1/builds/{build.pk}{suffix}")

    if allowed:
        assert response.status_code in (200, 201, 204), response.content
    else:
        assert_envelope(response, 403, "FORBIDDEN")
        build.refresh_from_db()
        assert build.status == "queued"


# --- /status --------------------------------------------------------------------------------


def test_status_of_a_queued_build(owner_api, project, make_build):
    build = make_build(project)

    body = owner_api.get(f"/api/v1/builds/{build.pk}/status").json()

    assert body == {
        "build_id": str(build.pk),
        "status": "queued",
        "progress": None,
        "started_at": None,
        "estimated_completion": None,
        "error": None,
    }


@pytest.mark.parametrize(
    ("current", "total", "status", "progress"),
    [
        (None, None, "in_progress", None),
        (3, None, "in_progress", None),
        (0, 10, "in_progress", {"current_step": 0, "total_steps": 10, "percentage": 0}),
        (5, 10, "in_progress", {"current_step": 5, "total_steps": 10, "percentage": 50}),
        (1, 3, "in_progress", {"current_step": 1, "total_steps": 3, "percentage": 33}),
        (12, 10, "in_progress", {"current_step": 10, "total_steps": 10, "percentage": 100}),
        (4, 6, "success", {"current_step": 6, "total_steps": 6, "percentage": 100}),
        (2, 6, "failed", {"current_step": 2, "total_steps": 6, "percentage": 33}),
    ],
)
def test_status_progress(owner_api, project, make_build, current, total, status, progress):
    build = make_build(
        project,
        status=status,
        current_step=current,
        total_steps=total,
        started_at=timezone.now(),
        error_message="exit 1" if status == "failed" else None,
    )

    body = owner_api.get(f"/api/v1/builds/{build.pk}/status").json()

    assert body["progress"] == progress
    assert body["status"] == status
    assert body["error"] == ("exit 1" if status == "failed" else None)


def _finished(make_build, project, *, seconds: float, completed_ago: timedelta, status="success"):
    completed = timezone.now() - completed_ago
    return make_build(project, status=status, started_at=completed - timedelta(seconds=seconds), completed_at=completed)


def test_estimated_completion_is_null_without_history(owner_api, project, make_build, make_project, tenant):
    other_project = make_project(tenant)
    _finished(make_build, other_project, seconds=60, completed_ago=timedelta(hours=1))
    _finished(make_build, project, seconds=60, completed_ago=timedelta(hours=1), status="failed")
    build = make_build(project, status="in_progress", started_at=timezone.now())

    assert owner_api.get(f"/api/v1/builds/{build.pk}/status").json()["estimated_completion"] is None


def test_estimated_completion_is_started_at_plus_median_of_last_20_successes(owner_api, project, make_build):
    for i in range(5):  # older than the last 20: would pull the median to 200 s if counted
        _finished(make_build, project, seconds=1000, completed_ago=timedelta(days=2, minutes=i))
    for i in range(10):
        _finished(make_build, project, seconds=100, completed_ago=timedelta(hours=1, minutes=i))
    for i in range(10):
        _finished(make_build, project, seconds=200, completed_ago=timedelta(hours=2, minutes=i))
    _finished(make_build, project, seconds=5, completed_ago=timedelta(minutes=1), status="failed")
    started = timezone.now() - timedelta(seconds=30)
    build = make_build(project, status="in_progress", started_at=started)

    body = owner_api.get(f"/api/v1/builds/{build.pk}/status").json()

    assert parse_datetime(body["estimated_completion"]) == started + timedelta(seconds=150)
    assert parse_datetime(body["started_at"]) == started


@pytest.mark.parametrize("status", ["success", "failed", "cancelled"])
def test_finished_builds_have_no_estimate(owner_api, project, make_build, status):
    _finished(make_build, project, seconds=100, completed_ago=timedelta(hours=1))
    build = _finished(make_build, project, seconds=10, completed_ago=timedelta(minutes=1), status=status)

    assert owner_api.get(f"/api/v1/builds/{build.pk}/status").json()["estimated_completion"] is None


# --- /logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "query", "offset", "limit", "returned"),
    [
        (0, "", 0, 100, []),
        (5, "", 0, 100, [1, 2, 3, 4, 5]),
        (150, "", 0, 100, list(range(1, 101))),
        (150, "?offset=100", 100, 100, list(range(101, 151))),
        (10, "?offset=3&limit=4", 3, 4, [4, 5, 6, 7]),
        (10, "?offset=10", 10, 100, []),
        (10, "?offset=50&limit=1", 50, 1, []),
        (1200, "?limit=1000", 0, 1000, list(range(1, 1001))),
        (3, "?limit=1", 0, 1, [1]),
    ],
)
def test_logs_pagination(owner_api, project, make_build, make_log_lines, lines, query, offset, limit, returned):
    build = make_build(project, status="in_progress")
    make_log_lines(build, lines)

    response = owner_api.get(f"/api/v1/builds/{build.pk}/logs{query}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["build_id"], body["total_lines"], body["offset"], body["limit"]) == (
        str(build.pk),
        lines,
        offset,
        limit,
    )
    assert [entry["message"] for entry in body["logs"]] == [f"line {n}" for n in returned]
    for entry in body["logs"][:3]:
        assert set(entry) == {"timestamp", "level", "message", "metadata"}
        assert entry["level"] == "INFO"
        assert entry["metadata"]["step"] == "build"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("offset=-1", "offset"),
        ("offset=abc", "offset"),
        ("offset=1.5", "offset"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("format=xml", "format"),
        ("format=TEXT", "format"),
    ],
)
def test_logs_invalid_query_is_400_naming_the_parameter(owner_api, project, make_build, query, param):
    build = make_build(project)

    body = assert_envelope(owner_api.get(f"/api/v1/builds/{build.pk}/logs?{query}"), 400, "INVALID_REQUEST")

    assert param in body["details"]


def _text_lines(response) -> list[str]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.streaming
    return b"".join(response.streaming_content).decode().splitlines()


@pytest.mark.parametrize("how", ["accept", "format"])
def test_logs_as_plain_text_download_holds_every_line(owner_api, project, make_build, make_log_lines, how):
    build = make_build(project, status="failed")
    make_log_lines(build, 2500)
    make_log_lines(build, 1, level="ERROR")

    if how == "accept":
        response = owner_api.get(f"/api/v1/builds/{build.pk}/logs", HTTP_ACCEPT="text/plain")
    else:
        response = owner_api.get(f"/api/v1/builds/{build.pk}/logs?format=text")

    lines = _text_lines(response)
    assert "attachment" in response["Content-Disposition"]
    assert len(lines) == 2501
    assert lines[0].endswith("INFO  line 1")
    assert lines[2499].endswith("line 2500")
    assert lines[-1].endswith("ERROR line 1")


def test_logs_text_errors_are_still_the_json_envelope(owner_api):
    response = owner_api.get(f"/api/v1/builds/{uuid.uuid4()}/logs", HTTP_ACCEPT="text/plain")

    assert_envelope(response, 404, "NOT_FOUND")


# --- Who may call what ----------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/api/v1/builds"),
    ("post", "/api/v1/builds"),
    ("get", "/api/v1/builds/{id}"),
    ("delete", "/api/v1/builds/{id}"),
    ("post", "/api/v1/builds/{id}/start"),
    ("post", "/api/v1/builds/{id}/cancel"),
    ("post", "/api/v1/builds/{id}/retry"),
    ("get", "/api/v1/builds/{id}/status"),
    ("get", "/api/v1/builds/{id}/logs"),
    ("get", "/api/v1/builds/{id}/logs?format=xml"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    ("caller", "status", "code"),
    [
        ("anonymous", 401, "UNAUTHORIZED"),
        ("no_tenant_header", 400, "INVALID_REQUEST"),
        ("not_a_member", 403, "FORBIDDEN"),
    ],
)
def test_callers_without_access_change_nothing(
    api, owner, tenant, project, make_build, make_user, method, path, caller, status, code
):
    build = make_build(project, status="failed")
    client = {
        "anonymous": lambda: api(None, tenant),
        "no_tenant_header": lambda: api(owner),
        "not_a_member": lambda: api(make_user(), tenant),
    }[caller]()

    response = getattr(client, method)(path.format(id=build.pk))

    assert_envelope(response, status, code)
    build.refresh_from_db()
    assert build.status == "failed" and Build.objects.count() == 1


def test_a_build_for_a_project_deleted_meanwhile_is_not_found_not_a_crash(owner, tenant, project):
    from builds.services import builds as build_services
    from imagefactory.core.errors import NotFound

    stale = type(project).objects.get(pk=project.pk)  # looked up by the request, then deleted by another
    project.delete()

    with pytest.raises(NotFound, match="Project not found"):
        build_services.create_build(tenant=tenant, project=stale, user=owner, git_branch="main")
    assert not Build.objects.exists()
