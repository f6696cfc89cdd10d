"""Fixtures of the builds tests. The real-services ones (registry, git_repo, stack, member_client,
engine_project) are in the root conftest.py, shared with the CLI's end-to-end tests."""

from __future__ import annotations

import pytest

from testing import need_postgres


@pytest.fixture
def registry_project(make_project, tenant, git_repo, registry):
    return make_project(tenant, name="app", repository_url=git_repo.url, image_repository=f"{registry.host}/acme/app")


# --- Builds REST API tests (lifecycle, validation, races, idempotency, limits, schema) ------


@pytest.fixture
def make_log_lines():
    """make_log_lines(build, n) -> stores n real log lines through the log store."""
    from datetime import timedelta

    from django.utils import timezone

    from builds.logs.store import append_lines

    def make(build, count: int, *, level: str = "INFO"):
        start = timezone.now()
        return append_lines(
            build.pk,
            [
                {
                    "timestamp": start + timedelta(milliseconds=i),
                    "level": level,
                    "message": f"line {i + 1}",
                    "metadata": {"step": "build"},
                }
                for i in range(count)
            ],
        )

    return make


@pytest.fixture
def run_concurrently():
    """run_concurrently(fn, n) -> n results of fn(i), called from n real threads released together.

    Each thread closes its own database connection at the end (Django opens one per thread).
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def run(fn, count: int) -> list:
        barrier = threading.Barrier(count)

        def call(index: int):
            try:
                barrier.wait(timeout=30)
                return fn(index)
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(call, range(count)))

    return run


@pytest.fixture
def race_settings(settings, transactional_db):
    """PostgreSQL only; builds that get started are sent to a queue nobody consumes."""
    need_postgres()
    settings.BUILD_QUEUE = "race-tests-unconsumed"
    yield settings
    if settings.SERVICES_MODE:
        from imagefactory.celery import app

        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(settings.BUILD_QUEUE)


# --- Log stream tests (WebSocket) ------------------------------------------------------------


@pytest.fixture
def stream_build(member_client, make_project, tenant, git_repo):
    """stream_build(*shell_commands) -> a queued build (API dict) whose Dockerfile RUNs them, not pushed.

    Each call commits its own Dockerfile (a unique token defeats the layer cache) and pins the
    build to that commit.
    """
    from testing import run_step, unique_token

    project = make_project(tenant, name=f"stream-{unique_token()}", repository_url=git_repo.url)

    def make(*commands: str) -> dict:
        token = unique_token()
        body = "\n".join(run_step(f"echo run-{token}; {command}") for command in commands)
        commit = git_repo.commit_dockerfile(body, message=f"stream {token}")
        return member_client.create_build(project, git_commit=commit)

    return make


# --- Admin tests ----------------------------------------------------------------------------


@pytest.fixture
def operator(make_user):
    """A superuser: the operator the Django admin is for."""
    return make_user("operator@example.com", superuser=True)


@pytest.fixture
def admin_browser(client, operator):
    """A Django test client logged in to the admin as the operator (session and CSRF like a browser)."""
    client.force_login(operator)
    return client
