"""LOG_FORMAT=json: one JSON object per record with the context ids; the text format names them too."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import logging.config

import pytest
from django.test import Client

from imagefactory.core.context import build_id_var, tenant_id_var, trace_id_var, user_id_var
from imagefactory.core.logging import ContextFilter, JsonFormatter


def formatted(record: logging.LogRecord) -> dict:
    ContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def record(message: str = "hello %s", args=("world",), **extra) -> logging.LogRecord:
    made = logging.LogRecord("imagefactory.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_outside_any_context_has_null_ids():
    # A fresh context: earlier tests in this thread may have set the ids (outside a request's middleware).
    document = contextvars.Context().run(formatted, record())
    assert document["message"] == "hello world"
    assert document["level"] == "WARNING"
    assert document["logger"] == "imagefactory.test"
    assert document["time"].endswith("Z")
    assert {key: document[key] for key in ("trace_id", "tenant_id", "build_id", "user_id")} == dict.fromkeys(
        ("trace_id", "tenant_id", "build_id", "user_id")
    )
    assert "exception" not in document


def test_the_context_ids_are_on_the_line():
    tokens = [
        (trace_id_var, trace_id_var.set("trace-1")),
        (tenant_id_var, tenant_id_var.set("tenant-2")),
        (build_id_var, build_id_var.set("build-3")),
        (user_id_var, user_id_var.set("42")),
    ]
    try:
        document = formatted(record())
    finally:
        for var, token in tokens:
            var.reset(token)
    assert (document["trace_id"], document["tenant_id"], document["build_id"], document["user_id"]) == (
        "trace-1",
        "tenant-2",
        "build-3",
        "42",
    )


def test_an_exception_and_extras_are_kept_and_odd_values_still_serialise():
    try:
        raise RuntimeError("disk full")
    except RuntimeError:
        import sys

        made = record(exc_info=sys.exc_info(), route="/api/v1/builds", status=503, thing=object())
    document = formatted(made)
    assert "RuntimeError: disk full" in document["exception"]
    assert document["route"] == "/api/v1/builds" and document["status"] == 503
    assert document["thing"].startswith("<object")


def test_a_message_with_newlines_and_quotes_stays_one_line():
    document = formatted(record('line one\nline "two"', args=()))
    assert document["message"] == 'line one\nline "two"'


def test_settings_refuse_an_unknown_log_format(monkeypatch):
    import subprocess
    import sys

    from testing import ROOT

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='imagefactory.settings'; django.setup()",
        ],
        cwd=ROOT,
        env={**__import__("os").environ, "LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "LOG_FORMAT must be text or json" in result.stderr


@pytest.fixture
def json_console(settings):
    """The project's LOGGING with LOG_FORMAT=json, into a buffer; the test's config restored after."""
    buffer = io.StringIO()
    config = {**settings.LOGGING, "handlers": {**settings.LOGGING["handlers"]}}
    config["handlers"]["console"] = {**config["handlers"]["console"], "formatter": "json", "stream": buffer}
    logging.config.dictConfig(config)
    yield buffer
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.django_db
def test_a_request_logs_json_with_its_trace_tenant_and_user(json_console, owner_api, owner, tenant, project):
    response = owner_api.get(f"/api/v1/projects/{project.pk}", HTTP_X_REQUEST_ID="trace-of-this-request")
    assert response.status_code == 200
    Client().get("/healthz")
    lines = [json.loads(line) for line in json_console.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "imagefactory.access"]
    mine = [line for line in access if line["trace_id"] == "trace-of-this-request"]
    assert len(mine) == 1, access
    assert mine[0]["tenant_id"] == str(tenant.pk)
    assert mine[0]["user_id"] == str(owner.pk)
    assert mine[0]["route"] == "/api/v1/projects/<str:project_id>" and mine[0]["status"] == 200
    health = [line for line in access if line["route"] == "/healthz"]
    assert health and health[0]["user_id"] is None and health[0]["tenant_id"] is None  # nothing left over
