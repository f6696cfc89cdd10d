"""The `imagefactory` CLI end to end: a real server (daphne, Celery in services mode), real git,
buildah and registry, the CLI as a separate process configured like a CI job.

Success, failure, cancel, a connection cut in the middle of `--follow`, a response lost after the
server made the build (the Idempotency-Key), a real 429 storm, and --timeout.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from testing import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.buildah]


def test_build_follow_streams_the_log_and_exits_0(cli, cli_pipeline, member_client):
    project, commit = cli_pipeline("echo greeting=$GREETING", build_args=("GREETING",))
    result = cli.run(
        "build",
        "--project",
        project,
        "--branch",
        "main",
        "--commit",
        commit,
        "--build-arg",
        "GREETING=from-ci",
        "--follow",
    )
    assert result.code == 0, result
    build_id = result.created_build_id
    stored = member_client.log_messages(build_id)
    # stdout is the log, every line once, in order, and nothing else.
    assert result.lines == stored
    assert "greeting=from-ci" in result.lines
    assert f"{build_id}: success, image " in result.stderr

    status = cli.run("builds", "status", build_id)
    assert (status.code, status.lines[0].split()[0]) == (0, "success"), status
    shown = json.loads(cli.run("builds", "show", build_id, "--json").stdout)
    assert shown["image_digest"].startswith("sha256:")
    assert cli.run("builds", "logs", build_id).lines == stored
    replayed = cli.run("builds", "logs", build_id, "--follow")  # an ended build: replay, then the end
    assert (replayed.code, replayed.lines) == (0, stored), replayed
    listed = json.loads(cli.run("--json", "builds", "list", "--project", project, "--status", "success").stdout)
    assert [b["id"] for b in listed["builds"]] == [build_id]
    projects = cli.run("projects", "list")
    assert project in projects.stdout


def test_failed_build_and_its_retry_exit_1(cli, cli_pipeline, member_client):
    project, commit = cli_pipeline("echo about-to-fail; exit 3")
    result = cli.run("build", "--project", project, "--branch", "main", "--commit", commit, "--follow")
    assert result.code == 1, result
    assert "about-to-fail" in result.lines
    failed_id = result.created_build_id
    assert cli.run("builds", "status", failed_id).code == 1

    # retry: a new build of the same commit, started and followed; it fails the same way.
    retried = cli.run("builds", "retry", failed_id, "--follow")
    assert retried.code == 1, retried
    assert "about-to-fail" in retried.lines
    retry_id = retried.created_build_id
    assert member_client.build(retry_id)["retry_of"] == failed_id


def test_cancelled_build_exits_2(cli, cli_pipeline, member_client):
    project, commit = cli_pipeline("echo waiting-for-cancel; sleep 120")
    follower = cli.start("build", "--project", project, "--branch", "main", "--commit", commit, "--follow")
    follower.wait_for_line("waiting-for-cancel")
    build_id = member_client.get("/builds", params={"project_id": project}).json()["builds"][0]["id"]

    cancel = cli.run("builds", "cancel", build_id, "--reason", "changed my mind")
    assert cancel.code == 0, cancel
    result = follower.finish()
    assert result.code == 2, result
    assert f"{build_id}: cancelled" in result.stderr


def test_follow_resumes_after_a_dropped_connection_printing_every_line_once(cli, cli_pipeline, proxy, member_client):
    project, commit = cli_pipeline("for i in $(seq 1 40); do echo tick-$i; sleep 0.2; done")
    follower = cli.start(
        "build", "--project", project, "--branch", "main", "--commit", commit, "--follow", url=proxy.url
    )
    follower.wait_for_line("tick-5")
    assert proxy.cut() >= 1  # the WebSocket (and any pooled HTTP connection) reset mid-stream
    result = follower.finish()

    assert result.code == 0, result
    build_id = result.created_build_id
    assert result.lines == member_client.log_messages(build_id)
    assert [line for line in result.lines if line.startswith("tick-")] == [f"tick-{i}" for i in range(1, 41)]
    streams = [
        head.split(b"\r\n", 1)[0]
        for head in proxy.requests_starting(f"GET /api/v1/builds/{build_id}/logs/stream".encode())
    ]
    assert len(streams) >= 2 and streams[0].endswith(b"?since=0 HTTP/1.1"), streams
    assert not streams[1].endswith(b"?since=0 HTTP/1.1")  # resumed after what it had printed
    assert "resuming after line" in result.stderr


def test_a_lost_response_is_retried_with_the_same_idempotency_key_and_makes_one_build(
    cli, cli_pipeline, proxy, member_client
):
    project, commit = cli_pipeline("echo once")
    # The server creates the build, then the answer never reaches the CLI.
    proxy.swallow_response_to(b"POST /api/v1/builds ")
    result = cli.run("build", "--project", project, "--branch", "main", "--commit", commit, "--wait", url=proxy.url)

    assert result.code == 0, result
    assert proxy.swallowed == 1
    assert "POST /builds: ConnectionError; retry 1/" in result.stderr
    # Every attempt of the create carried the same key (a slow server may cost more than one retry).
    creates = proxy.requests_starting(b"POST /api/v1/builds ")
    keys = {re.search(rb"(?im)^idempotency-key: *(\S+)", head).group(1) for head in creates}
    assert len(creates) >= 2 and len(keys) == 1, (creates, result)
    builds = member_client.get("/builds", params={"project_id": project}).json()["builds"]
    assert [(b["id"], b["status"]) for b in builds] == [(result.lines[0], "success")]


@pytest.fixture
def rate_limited_stack(stack, tmp_path, django_db_blocker):
    """A second Stack whose rate limiter allows one request per user and tenant every 5 seconds."""
    limited = Stack(tmp_path / "limited", extra_env={"RATE_LIMIT_REQUESTS": "1", "RATE_LIMIT_WINDOW_SECONDS": "5"})
    with django_db_blocker.unblock():
        limited.start()
    yield limited
    limited.stop()


def test_a_429_storm_is_ridden_out_honouring_retry_after(cli, cli_pipeline, rate_limited_stack):
    project, commit = cli_pipeline("echo through-the-storm")
    # --wait: create, start, then a status read every 2 s, against one request per 5 s window:
    # most of them are answered 429 until the window turns.
    result = cli.run(
        "build", "--project", project, "--branch", "main", "--commit", commit, "--wait", url=rate_limited_stack.base_url
    )
    assert result.code == 0, result
    waits = [float(w) for w in re.findall(r"HTTP 429; retry \d+/\d+ in ([0-9.]+)s", result.stderr)]
    assert waits, result
    # Retry-After (at least 1 s, up to the window's end) was followed, not the 0.5 s first step.
    assert min(waits) >= 1.0
    from builds.models import Build

    builds = list(Build.objects.filter(project_id=project))
    assert [(str(b.pk), b.status) for b in builds] == [(result.lines[0], "success")]


def test_timeout_exits_4_and_can_cancel_the_build(cli, cli_pipeline, member_client):
    project, commit = cli_pipeline("echo slow-build; sleep 120")
    result = cli.run(
        "build",
        "--project",
        project,
        "--branch",
        "main",
        "--commit",
        commit,
        "--follow",
        "--timeout",
        "10",
        "--cancel-on-timeout",
    )
    assert result.code == 4, result
    assert "timed out after 10s" in result.stderr
    assert member_client.wait_for(result.created_build_id)["status"] == "cancelled"


def test_api_errors_exit_3_with_the_envelope_message_and_trace_id(cli, stack):
    missing = str(uuid.uuid4())
    result = cli.run("builds", "show", missing)
    assert result.code == 3, result
    assert "error: Build not found (HTTP 404, NOT_FOUND, trace_id " in result.stderr
    bad_token = cli.run("projects", "list", "--token", "not-a-token")
    assert bad_token.code == 3 and "HTTP 401" in bad_token.stderr
    assert requests.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200


def test_login_with_email_and_password_prints_a_token(cli, stack, owner, settings):
    # The server hashes with its own hashers, not the tests' fast MD5: store a hash it can check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    owner.set_password("correct-horse-9")
    owner.save()
    result = cli.run("login", "--email", owner.email, "--password", "correct-horse-9", "--url", stack.base_url)
    assert result.code == 0, result
    token = result.lines[0]
    me = requests.get(f"{stack.base_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.json()["email"] == owner.email


def test_tenant_by_name_or_implied_by_a_single_membership(cli, project, make_tenant, owner):
    by_name = cli.run("--json", "projects", "list", tenant="acme")
    assert [p["id"] for p in json.loads(by_name.stdout)["projects"]] == [str(project.pk)], by_name
    implied = cli.run("projects", "list", tenant=None)
    assert implied.code == 0 and str(project.pk) in implied.stdout, implied

    make_tenant("second", members={owner: "viewer"})
    ambiguous = cli.run("projects", "list", tenant=None)
    assert ambiguous.code == 3 and "set IMAGEFACTORY_TENANT" in ambiguous.stderr, ambiguous
