"""The engine end to end: real git, buildah, registry, server (and Celery worker in services mode)."""

from __future__ import annotations

import base64
import re

import pytest

from testing import free_port, run_step, unique_token, wait_until

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


def failure_context(client, build: dict) -> str:
    return f"{build['status']} {build['error_message']}: {client.log_messages(build['id'])[-10:]}"


def run_build(client, project, *, timeout: float = 120, **body) -> dict:
    """Creates and starts a build, and waits until it is terminal."""
    build = client.create_build(project, **body)
    client.start(build["id"])
    return client.wait_for(build["id"], timeout=timeout)


def test_build_pushes_image_and_records_registry_digest(member_client, registry_project, registry, buildah):
    greeting = f"from-the-api-{unique_token()}"  # a new build arg value: the layer cache cannot answer
    build = member_client.create_build(registry_project, build_args={"GREETING": greeting})
    member_client.start(build["id"])

    done = member_client.wait_for(build["id"])

    assert done["status"] == "success", failure_context(member_client, done)
    assert done["image_reference"] == f"{registry.host}/acme/app:build-{done['build_number']}"
    assert done["image_digest"] == registry.manifest_digest("acme/app", f"build-{done['build_number']}")
    assert done["image_digest"].startswith("sha256:")
    assert done["failure_kind"] is None and done["error_message"] is None and done["completed_at"]
    assert {"build-1", "main", "latest", done["source_commit"][:12]} <= set(registry.tags("acme/app"))
    for tag in ("main", "latest", done["source_commit"][:12]):
        assert registry.manifest_digest("acme/app", tag) == done["image_digest"], tag
    messages = member_client.log_messages(build["id"])
    assert f"greeting={greeting}" in messages
    assert done["current_step"] == done["total_steps"] == 1 + 4 + 1  # clone, FROM COPY ARG RUN, push
    assert member_client.stack.workspaces(build["id"]) == []


def test_failing_run_step_fails_the_build_naming_the_step(member_client, engine_project, git_repo, buildah):
    token = unique_token()
    git_repo.commit_dockerfile(
        "\n".join(
            [
                run_step(f"echo before-{token}"),
                run_step(f"echo failing-{token}; exit 2"),
                run_step(f"echo never-{token}"),
            ]
        )
    )

    done = run_build(member_client, engine_project())

    assert done["status"] == "failed", failure_context(member_client, done)
    assert done["failure_kind"] == "build_error"
    assert re.fullmatch(r"step 4/5 RUN .*failing-\w+; exit 2.*: exit code 2", done["error_message"]), done
    assert done["image_digest"] is None and done["completed_at"]
    entries = member_client.log_entries(done["id"])
    messages = [entry["message"] for entry in entries]
    assert f"before-{token}" in messages and f"failing-{token}" in messages
    assert f"never-{token}" not in messages
    errors = [entry for entry in entries if entry["level"] == "ERROR"]
    assert any(entry["metadata"]["step"] == "build" and "exit status 2" in entry["message"] for entry in errors), errors
    assert errors[-1]["message"] == f"Build failed: {done['error_message']}"
    assert all(set(entry["metadata"]) >= {"step", "step_name", "container"} for entry in entries)
    assert member_client.stack.workspaces(done["id"]) == []


@pytest.fixture
def two_branches(git_repo) -> dict[str, str]:
    """main with two commits, and `feature` with a commit main does not contain."""
    first = git_repo.commit_dockerfile(run_step(f"echo version-one-{unique_token()}"), message="one")
    second = git_repo.commit_dockerfile(run_step(f"echo version-two-{unique_token()}"), message="two")
    git_repo.git("checkout", "--quiet", "-b", "feature")
    feature = git_repo.commit_dockerfile(run_step("echo feature"), message="feature only")
    git_repo.git("checkout", "--quiet", "main")
    return {"first": first, "second": second, "feature": feature}


def test_build_at_an_older_commit_of_the_branch_uses_that_commit(
    member_client, engine_project, two_branches, git_repo, buildah
):
    done = run_build(member_client, engine_project(), git_commit=two_branches["first"])

    assert done["status"] == "success", failure_context(member_client, done)
    assert done["source_commit"] == two_branches["first"]
    messages = member_client.log_messages(done["id"])
    assert any(message.startswith("version-one-") for message in messages)
    assert not any(message.startswith("version-two-") for message in messages)


@pytest.mark.parametrize("which", ["feature", "missing"])
def test_commit_not_on_the_branch_fails_naming_commit_and_branch(
    member_client, engine_project, two_branches, which, buildah
):
    commit = two_branches["feature"] if which == "feature" else "0123456789abcdef0123456789abcdef01234567"

    done = run_build(member_client, engine_project(), git_commit=commit)

    assert done["status"] == "failed", failure_context(member_client, done)
    assert done["failure_kind"] == "build_error"
    assert commit in done["error_message"] and "'main'" in done["error_message"], done["error_message"]
    assert done["error_message"].startswith("step clone:")


def test_unknown_branch_fails_naming_the_branch(member_client, engine_project, buildah):
    done = run_build(member_client, engine_project(), git_branch="no-such-branch")

    assert done["status"] == "failed", failure_context(member_client, done)
    assert done["failure_kind"] == "build_error"
    assert "'no-such-branch'" in done["error_message"] and "not found" in done["error_message"]
    assert member_client.stack.workspaces(done["id"]) == []


def test_missing_dockerfile_is_a_user_error(member_client, engine_project, buildah):
    done = run_build(member_client, engine_project(dockerfile_path="docker/Containerfile"))

    assert done["status"] == "failed", failure_context(member_client, done)
    assert done["failure_kind"] == "build_error"
    assert done["error_message"] == "step build: Dockerfile 'docker/Containerfile' not found in the repository"


def test_unreachable_registry_is_a_platform_error(member_client, engine_project, buildah):
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there

    done = run_build(member_client, engine_project(image_repository=f"{closed}/engine/nowhere"), timeout=240)

    assert done["status"] == "failed", failure_context(member_client, done)
    assert done["failure_kind"] == "platform_error"
    assert done["error_message"].startswith(f"step push: pushing to {closed} failed"), done["error_message"]
    assert done["image_digest"] is None


def test_progress_rises_while_the_build_runs(member_client, engine_project, git_repo, buildah):
    token = unique_token()
    git_repo.commit_dockerfile("\n".join(run_step(f"sleep 1; echo slow-{n}-{token}") for n in range(3)))
    build = member_client.create_build(engine_project())
    member_client.start(build["id"])
    seen: list[tuple[int, int]] = []

    def observe() -> bool:
        status = member_client.get(f"/builds/{build['id']}/status").json()
        progress = status["progress"]
        if progress and (not seen or seen[-1] != (progress["current_step"], progress["total_steps"])):
            seen.append((progress["current_step"], progress["total_steps"]))
        return status["status"] in ("success", "failed", "cancelled")

    wait_until(observe, timeout=120, interval=0.1, what="the build to end")

    done = member_client.build(build["id"])
    assert done["status"] == "success", failure_context(member_client, done)
    steps = [current for current, _ in seen]
    assert steps == sorted(set(steps)), seen  # strictly increasing
    assert len(steps) >= 3, seen  # rose at least twice
    assert {total for _, total in seen} == {1 + 5 + 1}, seen  # clone + FROM COPY RUN RUN RUN + push


@pytest.mark.parametrize("exit_code", [0, 3])
def test_registry_password_never_shows_in_logs_or_api(member_client, engine_project, git_repo, exit_code, buildah):
    password = f"pw-{unique_token()}"
    git_repo.commit_dockerfile(run_step(f"echo the password is {password}; exit {exit_code}"))
    project = engine_project(registry_username="robot", registry_password=password)

    done = run_build(member_client, project)

    assert done["status"] == ("success" if exit_code == 0 else "failed"), failure_context(member_client, done)
    messages = member_client.log_messages(done["id"])
    assert "the password is ****" in messages
    forms = [
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"robot:{password}".encode()).decode(),
    ]
    pages = {
        "logs": member_client.get(f"/builds/{done['id']}/logs", params={"limit": 1000}).text,
        "text logs": member_client.get(f"/builds/{done['id']}/logs", params={"format": "text"}).text,
        "build": member_client.get(f"/builds/{done['id']}").text,
        "status": member_client.get(f"/builds/{done['id']}/status").text,
        "project": member_client.get(f"/projects/{project.pk}").text,
    }
    for name, text in pages.items():
        for form in forms:
            assert form not in text, f"{form} leaked in {name}"
    if exit_code:
        assert "****" in done["error_message"]
