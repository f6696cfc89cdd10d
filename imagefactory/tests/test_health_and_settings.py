"""Probes, the OpenAPI schema and docs, production settings (check --deploy, SECRET_KEY), migrations."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from tenants.roles import BUILTIN_ROLES
from tenants.tests.endpoints import ENDPOINTS
from testing import ROOT, assert_envelope

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


# --- probes ---------------------------------------------------------------------------------


def test_healthz_needs_nothing():
    response = APIClient().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_and_cache():
    response = APIClient().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


def test_readyz_is_a_503_envelope_when_the_cache_is_unreachable(settings):
    settings.CACHES = UNREACHABLE_REDIS
    response = APIClient().get("/readyz")
    body = assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert body["details"]["database"] == "ok"
    assert body["details"]["cache"].startswith("unavailable")


# --- schema and docs ------------------------------------------------------------------------


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/v1/schema/?format=json")
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_X_TENANT_ID": "garbage", "HTTP_AUTHORIZATION": "Bearer garbage"}],
    ids=["bare", "bad-credentials"],
)
def test_schema_and_docs_need_no_token_and_no_tenant(path, headers):
    response = APIClient().get(path, **headers)
    assert response.status_code == 200, response.content[:300]


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method.upper(), operation


def test_schema_documents_x_tenant_id_on_every_tenant_scoped_operation(schema):
    scoped = {
        (path, method)
        for path, method, operation in _operations(schema)
        # X-Tenant-ID is the tenantId security scheme (one Authorize in the docs UI), required with the token.
        if {"bearerAuth": [], "tenantId": []} in operation["security"]
    }
    expected = {
        ("/" + e.route.replace("<str:", "{").replace(">", "}"), e.method) for e in ENDPOINTS if e.method != "HEAD"
    }  # OpenAPI documents GET; HEAD follows it
    assert scoped == expected


def test_schema_documents_bearer_auth_and_the_error_envelope(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {
        "error",
        "code",
        "timestamp",
        "trace_id",
        "details",
    }
    for path, method, operation in _operations(schema):
        # The push hook authenticates by the git host's signature instead (triggers/api/views.py).
        if path not in {
            "/api/v1/auth/login",
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
            "/api/v1/hooks/{trigger_id}",
        }:
            assert any("bearerAuth" in requirement for requirement in operation["security"]), (method, path)
        for status in ("400", "401", "500"):
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"]["$ref"].endswith("/Error"), (method, path, status)


def test_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for _, _, operation in _operations(schema)]
    assert len(ids) == len(set(ids)) and not any(i[-1].isdigit() for i in ids), ids


# --- settings -------------------------------------------------------------------------------


def _env(tmp_path, **env) -> dict[str, str]:
    """Production-like settings (no DEBUG, no services, no key, no file roots) plus `env`."""
    unset = {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "FILE_REPOSITORY_ROOTS"}
    base = {key: value for key, value in os.environ.items() if key not in unset}
    base.update(IMAGEFACTORY_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="imagefactory.settings")
    base.update(env)
    return base


def _run(args: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    """A fresh interpreter with production-like settings plus `env`."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=_env(tmp_path, **env), capture_output=True, text=True, timeout=120
    )


PRODUCTION = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "example.com"}
WITH_HSTS = {"SECURE_HSTS_SECONDS": "31536000", "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "SECURE_HSTS_PRELOAD": "1"}


@pytest.mark.parametrize("extra", [{}, WITH_HSTS], ids=["tls-at-the-proxy", "hsts"])
@pytest.mark.parametrize("services", [{}, {"REDIS_URL": "redis://127.0.0.1:6379/1"}], ids=["embedded", "services"])
def test_check_deploy_is_clean_with_production_settings(tmp_path, extra, services):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **PRODUCTION, **extra, **services
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_services_mode_refuses_to_start_without_secret_key(tmp_path):
    result = _run(["-c", "import django; django.setup()"], tmp_path, REDIS_URL="redis://127.0.0.1:6379/1")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY is not set" in result.stderr


PRINT_SECRET_KEY = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"


@pytest.mark.parametrize("debug", ["0", "1"])
def test_embedded_mode_makes_a_random_secret_key_once_and_keeps_it_private(tmp_path, debug):
    first = _run(["-c", PRINT_SECRET_KEY], tmp_path, DEBUG=debug)
    assert first.returncode == 0, first.stderr
    again = _run(["-c", PRINT_SECRET_KEY], tmp_path, DEBUG=debug)
    elsewhere = _run(["-c", PRINT_SECRET_KEY], tmp_path / "other")
    key = first.stdout.strip()
    assert len(key) >= 50 and again.stdout.strip() == key and elsewhere.stdout.strip() != key
    stored = tmp_path / "secret_key"
    assert stored.read_text().strip() == key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert key not in (ROOT / "imagefactory" / "settings.py").read_text()


def test_processes_starting_at_once_agree_on_one_key(tmp_path):
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", PRINT_SECRET_KEY],
            cwd=ROOT,
            env={**_env(tmp_path)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    keys = {run.communicate(timeout=120)[0].strip() for run in runs}
    assert len(keys) == 1 and len(keys.pop()) >= 50


PRINT_FILE_ROOTS = (
    "import django; django.setup(); from django.conf import settings; print(settings.FILE_REPOSITORY_ROOTS)"
)


@pytest.mark.parametrize(
    "env,roots",
    [
        ({}, ["{var}/demo-repo"]),  # the embedded default: the demo's own repository
        ({"REDIS_URL": "redis://127.0.0.1:6379/1"}, []),
        ({"FILE_REPOSITORY_ROOTS": "/srv/git/, /opt/mirrors/../repos"}, ["/srv/git", "/opt/repos"]),
    ],
    ids=["embedded", "services", "listed"],
)
def test_file_repositories_are_allowed_only_under_listed_roots(tmp_path, env, roots):
    result = _run(["-c", PRINT_FILE_ROOTS], tmp_path, SECRET_KEY=secrets.token_urlsafe(64), **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([root.format(var=tmp_path) for root in roots])


def test_jwt_lifetimes_default_to_15_minutes_and_7_days():
    assert django_settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=15)
    assert django_settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] == timedelta(days=7)


# --- migrations -----------------------------------------------------------------------------


def test_migrations_are_applied_and_create_the_builtin_roles():
    from tenants.models import Role

    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    assert {role.name: set(role.permissions) for role in Role.objects.filter(name__in=BUILTIN_ROLES)} == {
        name: set(permissions) for name, permissions in BUILTIN_ROLES.items()
    }


def test_models_and_migrations_agree(tmp_path):
    result = _run(["manage.py", "makemigrations", "--check", "--dry-run"], tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stdout + result.stderr
