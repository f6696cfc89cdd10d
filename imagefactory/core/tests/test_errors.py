"""The error envelope (issue §5) for every class of error under /api/, and X-Request-ID / trace_id."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from imagefactory.core.tests.urls_boom import SECRET_TEXT
from testing import assert_envelope

pytestmark = pytest.mark.django_db


def assert_json_not_html(response) -> None:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert b"<html" not in response.content.lower() and b"traceback" not in response.content.lower()


# --- one request per error class ------------------------------------------------------------


@pytest.fixture
def ctx(owner_api, api, owner, project, make_user, tenant, roles):
    """The owner's client, a project, the owner aimed at an unknown tenant or at none, a viewer's client."""
    from tenants.models import Membership

    viewer = make_user()
    Membership.objects.create(user=viewer, tenant=tenant, role=roles["viewer"])
    return SimpleNamespace(
        client=owner_api,
        project=project,
        outsider=api(owner, tenant_header=str(uuid.uuid4())),
        no_header=api(owner),
        viewer=api(viewer, tenant),
    )


def _validation(ctx):
    return ctx.client.post("/api/v1/projects", {"name": "", "repository_url": "ftp://example.com/x"}, format="json")


def _unauthenticated(ctx):
    return APIClient().get("/api/v1/projects")


def _forbidden(ctx):
    return ctx.outsider.get("/api/v1/projects")


def _missing_object(ctx):
    return ctx.client.get(f"/api/v1/projects/{uuid.uuid4()}")


def _malformed_id(ctx):
    return ctx.client.get("/api/v1/projects/not-a-uuid")


def _method_not_allowed_on_list(ctx):
    return ctx.client.put("/api/v1/projects", {}, format="json")


def _method_not_allowed_on_detail(ctx):
    return ctx.client.post(f"/api/v1/projects/{ctx.project.pk}", {}, format="json")


def _unsupported_media_type(ctx):
    return ctx.client.post("/api/v1/builds", "project_id=1", content_type="text/plain")


def _form_encoded(ctx):
    return ctx.client.post("/api/v1/projects", "name=x", content_type="application/x-www-form-urlencoded")


def _malformed_json(ctx):
    return ctx.client.post("/api/v1/projects", '{"name": "x", ', content_type="application/json")


def _json_array(ctx):
    return ctx.client.post("/api/v1/projects", "[1, 2]", content_type="application/json")


def _json_null(ctx):
    return ctx.client.post("/api/v1/projects", "null", content_type="application/json")


def _bad_query_parameter(ctx):
    return ctx.client.get("/api/v1/projects?page=zero")


def _disallowed_host(ctx):
    return ctx.client.get("/api/v1/projects", HTTP_HOST="evil.example")


ERROR_CASES = {
    "drf-validation": (_validation, 400, "INVALID_REQUEST"),
    "unauthenticated": (_unauthenticated, 401, "UNAUTHORIZED"),
    "forbidden": (_forbidden, 403, "FORBIDDEN"),
    "missing-object": (_missing_object, 404, "NOT_FOUND"),
    "malformed-id": (_malformed_id, 400, "INVALID_REQUEST"),
    "405-list": (_method_not_allowed_on_list, 405, "METHOD_NOT_ALLOWED"),
    "405-detail": (_method_not_allowed_on_detail, 405, "METHOD_NOT_ALLOWED"),
    "415-text-plain": (_unsupported_media_type, 415, "UNSUPPORTED_MEDIA_TYPE"),
    "415-form": (_form_encoded, 415, "UNSUPPORTED_MEDIA_TYPE"),
    "malformed-json": (_malformed_json, 400, "INVALID_REQUEST"),
    "json-array-body": (_json_array, 400, "INVALID_REQUEST"),
    "json-null-body": (_json_null, 400, "INVALID_REQUEST"),
    "bad-query-parameter": (_bad_query_parameter, 400, "INVALID_REQUEST"),
    "disallowed-host": (_disallowed_host, 400, "INVALID_REQUEST"),
}


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_every_error_class_is_the_envelope(case, debug, settings, ctx):
    settings.DEBUG = debug
    send, status, code = ERROR_CASES[case]
    response = send(ctx)
    assert_envelope(response, status, code)
    assert_json_not_html(response)


def test_validation_details_map_each_field_to_one_message(ctx):
    body = assert_envelope(_validation(ctx), 400, "INVALID_REQUEST")
    assert set(body["details"]) == {"name", "repository_url"}
    assert all(isinstance(message, str) and message for message in body["details"].values())


def test_405_names_the_method(ctx):
    assert assert_envelope(_method_not_allowed_on_list(ctx), 405)["details"]["method"] == "PUT"


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/projects/1/2/3",
        "/api/v1/projects/",
        "/api/v2/builds",
        "/api/",
        "/api/v1/auth/login/extra",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_urls_under_api_are_a_json_404(path, method, debug, settings):
    settings.DEBUG = debug
    response = getattr(APIClient(), method)(path)
    body = assert_envelope(response, 404, "NOT_FOUND")
    assert_json_not_html(response)
    assert body["details"]["path"] == path


def test_oversized_body_is_413(settings, owner_api):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = owner_api.post(
        "/api/v1/projects", {"name": "x" * 2000, "repository_url": "https://h/a/b"}, format="json"
    )
    body = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["details"]["max_bytes"] == 1000


def test_api_rate_limit_is_429_with_retry_after(settings, owner_api):
    settings.RATE_LIMIT_REQUESTS = 1
    assert owner_api.get("/api/v1/projects").status_code == 200
    response = owner_api.get("/api/v1/projects")
    assert_envelope(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= settings.RATE_LIMIT_WINDOW_SECONDS


# --- uncaught exceptions --------------------------------------------------------------------


@pytest.mark.urls("imagefactory.core.tests.urls_boom")
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("path", ["/api/v1/boom/django", "/api/v1/boom/drf"], ids=["django-view", "drf-view"])
def test_uncaught_exception_is_a_500_envelope_logged_with_the_trace_id(path, debug, settings, log_records):
    settings.DEBUG = debug
    response = APIClient().get(path, HTTP_X_REQUEST_ID="boom-trace-1")
    body = assert_envelope(response, 500, "INTERNAL_SERVER_ERROR")
    assert_json_not_html(response)
    assert SECRET_TEXT not in response.content.decode() and "RuntimeError" not in response.content.decode()
    assert body["trace_id"] == "boom-trace-1"
    errors = [record for record in log_records if record.levelname == "ERROR"]
    assert any(record.exc_info and SECRET_TEXT in str(record.exc_info[1]) for record in errors), errors
    assert errors and all(record.trace_id == "boom-trace-1" for record in errors), [
        (record.name, record.trace_id) for record in errors
    ]


@pytest.mark.urls("imagefactory.core.tests.urls_boom")
def test_the_boom_urlconf_keeps_the_real_api(owner_api):
    assert owner_api.get("/api/v1/projects").status_code == 200


# --- X-Request-ID ---------------------------------------------------------------------------

SANE_IDS = ["abc", "A-Z_a.z-09", "x" * 128, str(uuid.uuid4())]
INSANE_IDS = ["x" * 129, "has space", "ünïcode", "a/b", "a;b", "<script>", ""]


@pytest.mark.parametrize("incoming", SANE_IDS)
@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/nope"])
def test_sane_request_id_is_echoed_and_becomes_the_trace_id(path, incoming):
    response = APIClient().get(path, HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] == incoming
    assert response.json()["trace_id"] == incoming


@pytest.mark.parametrize("incoming", INSANE_IDS)
def test_insane_request_id_is_replaced_by_a_generated_one(incoming):
    response = APIClient().get("/api/v1/projects", HTTP_X_REQUEST_ID=incoming)
    generated = response["X-Request-ID"]
    assert generated != incoming and generated == response.json()["trace_id"]
    assert 1 <= len(generated) <= 128 and generated.replace("-", "").isalnum() and generated.isascii()


def test_every_response_carries_a_fresh_request_id(owner_api):
    first, second = owner_api.get("/api/v1/projects"), owner_api.get("/api/v1/projects")
    assert first.status_code == 200 and first["X-Request-ID"] and first["X-Request-ID"] != second["X-Request-ID"]
    assert APIClient().get("/healthz")["X-Request-ID"]


# --- content negotiation and CSRF never change the error's shape ----------------------------

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", ["text/html", BROWSER_ACCEPT, "*/*"])
@pytest.mark.parametrize(
    "send,status",
    [
        pytest.param(lambda ctx, h: APIClient().get("/api/v1/projects", **h), 401, id="401"),
        pytest.param(lambda ctx, h: ctx.no_header.get("/api/v1/projects", **h), 400, id="400-header"),
        pytest.param(lambda ctx, h: ctx.viewer.post("/api/v1/projects", {}, format="json", **h), 403, id="403"),
        pytest.param(lambda ctx, h: ctx.client.get(f"/api/v1/projects/{uuid.uuid4()}", **h), 404, id="404"),
    ],
)
def test_errors_are_json_whatever_the_accept_header(send, status, accept, ctx):
    response = send(ctx, {"HTTP_ACCEPT": accept})
    assert_envelope(response, status)
    assert_json_not_html(response)


def test_a_browser_reading_as_a_member_without_write_permission_is_not_a_500(ctx):
    """The browsable API (DEBUG) probes POST permissions to draw its form; a 403 there must stay quiet."""
    response = ctx.viewer.get("/api/v1/projects", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_urls_are_404_even_with_csrf_enforced(method):
    from django.test import Client

    response = getattr(Client(enforce_csrf_checks=True), method)("/api/v1/nope", "{}", content_type="application/json")
    assert_envelope(response, 404, "NOT_FOUND")


@pytest.mark.urls("imagefactory.core.tests.urls_boom")
@pytest.mark.parametrize("path", ["/api/v1/boom/database/django", "/api/v1/boom/database/drf"], ids=["django", "drf"])
def test_a_database_outage_is_a_503_to_retry_not_a_500(path):
    response = APIClient().get(path)
    body = assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert body["details"] == {"reason": "database_unavailable"}
    assert int(response["Retry-After"]) >= 1
    assert "5432" not in response.content.decode()  # the driver's message stays in the server log
