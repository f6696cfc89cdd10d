"""Push hooks end to end: real daphne (+ a Celery worker in services mode), real git, buildah and registry.

The payloads are shaped like each provider's documented example, name the test repository by its
file:// URL, and are signed with the secret the create answer showed.
"""

from __future__ import annotations

import pytest
import requests

from builds.models import Build
from testing import assert_envelope, run_step, unique_token, wait_until
from triggers.tests.payloads import PAYLOADS, signed

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


def hook(stack, trigger: dict, payload: dict, *, event: str = "push", delivery: str | None = None, secret=None):
    body, headers = signed(trigger["kind"], secret or trigger["secret"], payload, event=event, delivery=delivery)
    return requests.post(trigger["delivery_url"], data=body, headers=headers, timeout=60)


def make_trigger(member_client, project, **body) -> dict:
    response = member_client.post(f"/projects/{project.pk}/triggers", json=body)
    assert response.status_code == 201, response.text
    trigger = response.json()
    assert trigger["delivery_url"] == f"{member_client.stack.base_url}/api/v1/hooks/{trigger['id']}"
    return trigger


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_a_signed_push_builds_the_pushed_commit_to_success(kind, member_client, engine_project, git_repo, buildah):
    pushed = git_repo.commit_dockerfile(run_step(f"echo pushed-{unique_token()}"))
    git_repo.commit_dockerfile(run_step("exit 1"), message="a later commit that would fail")  # HEAD moved on
    project = engine_project()
    trigger = make_trigger(member_client, project, kind=kind, branch_patterns=["main"])
    stack = member_client.stack
    payload = PAYLOADS[kind](repository_url=git_repo.url, commit=pushed)

    unsigned = hook(stack, trigger, payload, secret="not-the-secret")
    elsewhere = hook(stack, trigger, PAYLOADS[kind](repository_url=git_repo.url, branch="feature/x", commit=pushed))
    foreign = hook(stack, trigger, PAYLOADS[kind](repository_url="file:///srv/someone-else/repo", commit=pushed))
    first = hook(stack, trigger, payload, delivery=f"{kind}-{unique_token()}")
    again = hook(stack, trigger, payload, delivery=first.json()["delivery_id"])

    assert_envelope(unsigned, 401, "UNAUTHORIZED")
    assert elsewhere.status_code == 202 and "matches none of" in elsewhere.json()["message"]
    assert_envelope(foreign, 422, "UNPROCESSABLE_ENTITY")
    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert again.json()["build_id"] == first.json()["build_id"]
    build = member_client.wait_for(first.json()["build_id"], timeout=300)
    assert build["status"] == "success", (build, member_client.log_messages(build["id"])[-20:])
    assert (build["git_branch"], build["git_commit"], build["source_commit"]) == ("main", pushed, pushed)
    assert build["trigger"]["trigger_id"] == trigger["id"]
    assert build["trigger"]["delivery_id"] == first.json()["delivery_id"]
    assert build["trigger"]["triggered_by"]
    assert build["image_digest"]
    assert Build.objects.filter(project=project).count() == 1
    deliveries = member_client.get(f"/projects/{project.pk}/triggers/{trigger['id']}/deliveries").json()
    assert [(d["outcome"], d["status_code"]) for d in deliveries["deliveries"]] == [
        ("built", 201),
        ("rejected", 422),
        ("ignored", 202),
    ]


def test_a_quick_second_push_cancels_the_first_build_waiting_for_a_slot(
    member_client, tenant, engine_project, git_repo, buildah
):
    tenant.max_running_builds = 1
    tenant.save(update_fields=["max_running_builds"])
    busy_commit = git_repo.commit_dockerfile(run_step(f"echo busy-{unique_token()}; sleep 600"))
    first_commit = git_repo.commit_dockerfile(run_step(f"echo first-{unique_token()}"))
    second_commit = git_repo.commit_dockerfile(run_step(f"echo second-{unique_token()}"))
    project = engine_project()
    trigger = make_trigger(member_client, project, kind="github", branch_patterns=["main"])
    assert trigger["cancel_superseded"] is True
    busy = member_client.create_build(project, git_commit=busy_commit)["id"]
    member_client.start(busy)
    wait_until(
        lambda: Build.objects.filter(pk=busy, slot_acquired_at__isnull=False).exists(),
        timeout=180,
        what="the busy build to hold the tenant's only slot",
    )
    stack = member_client.stack

    first = hook(stack, trigger, PAYLOADS["github"](repository_url=git_repo.url, commit=first_commit))
    second = hook(stack, trigger, PAYLOADS["github"](repository_url=git_repo.url, commit=second_commit))
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    first_build = member_client.build(first.json()["build_id"])
    assert first_build["status"] == "cancelled"
    assert first_build["cancel_reason"].startswith("Superseded by build #")
    # Free the slot: the second push's build runs now.
    assert member_client.post(f"/builds/{busy}/cancel").status_code == 200

    second_build = member_client.wait_for(second.json()["build_id"], timeout=300)
    assert second_build["status"] == "success", member_client.log_messages(second_build["id"])[-20:]
    assert second_build["source_commit"] == second_commit
    assert member_client.wait_for(busy, timeout=120)["status"] == "cancelled"
    assert member_client.build(first.json()["build_id"])["started_at"] is not None  # it was waiting, not queued
    assert "Build cancelled by the github trigger" in " ".join(member_client.log_messages(first.json()["build_id"]))
