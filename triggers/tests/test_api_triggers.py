"""/projects/{id}/triggers: the secret shown once, validation, update, delete, the owner-only permission."""

from __future__ import annotations

import pytest

from builds.models import Build
from testing import assert_envelope
from triggers.models import Trigger

pytestmark = pytest.mark.django_db


def url(project, *rest) -> str:
    return "/".join([f"/api/v1/projects/{project.pk}/triggers", *map(str, rest)])


def test_create_shows_the_secret_once_and_the_delivery_url(owner_api, project):
    response = owner_api.post(
        url(project),
        {"kind": "github", "branch_patterns": ["main", "release/*"], "build_args": {"A": "b"}},
        format="json",
    )

    assert response.status_code == 201, response.content
    created = response.json()
    trigger = Trigger.objects.get(pk=created["id"])
    assert len(created["secret"]) == 64 and trigger.secret == created["secret"]
    assert created["delivery_url"] == f"http://testserver/api/v1/hooks/{trigger.pk}"
    assert (created["kind"], created["branch_patterns"], created["cancel_superseded"]) == (
        "github",
        ["main", "release/*"],
        True,
    )
    shown = owner_api.get(url(project, trigger.pk)).json()
    listed = owner_api.get(url(project)).json()["triggers"]
    assert "secret" not in shown and all("secret" not in item for item in listed)
    assert shown == {key: value for key, value in created.items() if key != "secret"}


def test_the_secret_is_stored_encrypted(owner_api, project):
    from django.db import connection

    secret = owner_api.post(url(project), {"kind": "gitlab"}, format="json").json()["secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM triggers_trigger")
        (stored,) = cursor.fetchone()
    assert secret not in stored


def test_default_branch_patterns_are_the_projects_default_branch(owner_api, make_project, tenant):
    project = make_project(tenant, default_branch="trunk")
    assert owner_api.post(url(project), {"kind": "gitea"}, format="json").json()["branch_patterns"] == ["trunk"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "bitbucket"},
        {"kind": "github", "branch_patterns": []},
        {"kind": "github", "branch_patterns": ["has space"]},
        {"kind": "github", "branch_patterns": "main"},
        {"kind": "github", "build_args": {"1BAD": "x"}},
        {"kind": "github", "secret": "mine"},
        {"kind": "github", "cancel_superseded": "yes"},
    ],
)
def test_bad_bodies_are_400(owner_api, project, body):
    assert_envelope(owner_api.post(url(project), body, format="json"), 400, "INVALID_REQUEST")
    assert not Trigger.objects.exists()


def test_update_changes_only_what_is_sent(owner_api, project, make_trigger):
    trigger, secret = make_trigger(project, branch_patterns=["main"])

    response = owner_api.patch(url(project, trigger.pk), {"cancel_superseded": False}, format="json")

    assert response.status_code == 200
    trigger.refresh_from_db()
    assert (trigger.cancel_superseded, trigger.branch_patterns, trigger.secret) == (False, ["main"], secret)


def test_delete_keeps_the_builds_it_made(owner_api, project, make_trigger, deliver):
    trigger, secret = make_trigger(project)
    build_id = deliver(trigger, secret).json()["build_id"]

    assert owner_api.delete(url(project, trigger.pk)).status_code == 204

    assert not Trigger.objects.exists()
    build = Build.objects.get(pk=build_id)
    assert build.trigger_id is None and build.trigger_delivery_id
    assert owner_api.get(f"/api/v1/builds/{build_id}").json()["trigger"]["trigger_id"] is None


def test_a_trigger_of_another_project_is_404(owner_api, project, make_project, tenant, make_trigger):
    trigger, _ = make_trigger(make_project(tenant, name="other"))
    assert_envelope(owner_api.get(url(project, trigger.pk)), 404, "NOT_FOUND")


@pytest.mark.parametrize(("role", "allowed"), [("owner", True), ("developer", False), ("viewer", False)])
def test_only_roles_holding_project_manage_see_triggers(role, allowed, api, tenant, make_user, project, roles):
    from tenants.models import Membership

    user = make_user()
    Membership.objects.create(user=user, tenant=tenant, role=roles[role])
    response = api(user, tenant).get(url(project))
    if allowed:
        assert response.status_code == 200
    else:
        assert assert_envelope(response, 403, "FORBIDDEN")["details"]["permission"] == "project:manage"


def test_listing_triggers_takes_a_constant_number_of_queries(owner_api, project, make_trigger):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_trigger(project)
    with CaptureQueriesContext(connection) as one:
        assert len(owner_api.get(url(project)).json()["triggers"]) == 1
    for _ in range(5):
        make_trigger(project)
    with CaptureQueriesContext(connection) as six:
        assert len(owner_api.get(url(project)).json()["triggers"]) == 6
    assert len(six.captured_queries) == len(one.captured_queries)
