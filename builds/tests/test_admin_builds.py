"""Builds in the admin: search, filters, order, the log tail and full log, cancel and retry actions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from builds.models import Build

LIST = "/admin/builds/build/"


def _change_url(build: Build) -> str:
    return f"/admin/builds/build/{build.pk}/change/"


def _listed(response) -> set[str]:
    """The build ids of the rows on a list page (the action checkboxes carry them)."""
    html = response.content.decode()
    return {str(build.pk) for build in Build.objects.all() if f'value="{build.pk}"' in html}


def _run_action(admin_browser, action: str, *builds: Build):
    return admin_browser.post(
        LIST, {"action": action, "_selected_action": [str(build.pk) for build in builds]}, follow=True
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def builds(make_build, project, make_project, make_tenant):
    """Builds of two tenants: different statuses, branches, commits and failure kinds."""
    other_project = make_project(make_tenant("globex"), name="web")
    return {
        "queued": make_build(project, git_branch="main"),
        "failed": make_build(project, status="failed", failure_kind="build_error", git_branch="feature/login"),
        "timeout": make_build(project, status="failed", failure_kind="timeout", git_commit="deadbeefcafeabcd"),
        "success": make_build(other_project, status="success", git_branch="release-two"),
    }


def test_cancel_a_queued_build(admin_browser, builds, operator):
    response = _run_action(admin_browser, "cancel_builds", builds["queued"])

    build = Build.objects.get(pk=builds["queued"].pk)
    assert (build.status, build.cancel_reason) == ("cancelled", "Cancelled by an operator in the admin")
    assert _messages(response) == ["1 build(s) cancelled."]
    # The same service as the API: the log ends with who cancelled it.
    assert build.log_lines.order_by("-seq").first().message.startswith(f"Build cancelled by {operator.email}")


def test_retry_a_failed_build(admin_browser, builds, operator):
    response = _run_action(admin_browser, "retry_builds", builds["failed"])

    retry = Build.objects.get(retry_of=builds["failed"])
    assert (retry.status, retry.git_branch, retry.created_by) == ("queued", "feature/login", operator)
    assert (
        retry.build_number
        == max(build.build_number for build in builds.values() if build.project_id == retry.project_id) + 1
    )
    assert _messages(response) == ["1 build(s) retried."]


def test_refused_moves_are_messages_and_the_rest_still_happen(admin_browser, builds):
    response = _run_action(admin_browser, "cancel_builds", builds["success"], builds["queued"])

    assert response.status_code == 200
    assert Build.objects.get(pk=builds["success"].pk).status == "success"
    assert Build.objects.get(pk=builds["queued"].pk).status == "cancelled"
    number = builds["success"].build_number
    refused, cancelled = _messages(response)
    assert refused.startswith(f"Build #{number} of web was not cancelled: Cannot cancel a build that is success;")
    assert cancelled == "1 build(s) cancelled."


def test_a_build_is_retried_once(admin_browser, builds):
    _run_action(admin_browser, "retry_builds", builds["failed"])
    response = _run_action(admin_browser, "retry_builds", builds["failed"], builds["queued"])

    assert Build.objects.filter(retry_of=builds["failed"]).count() == 1
    assert not Build.objects.filter(retry_of=builds["queued"]).exists()
    assert len(_messages(response)) == 2
    assert all("was not retried" in message for message in _messages(response))


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("feature/login", ["failed"]),
        ("deadbeef", ["timeout"]),
        ("release", ["success"]),
    ],
)
def test_search_by_branch_and_commit(admin_browser, builds, term, expected):
    response = admin_browser.get(LIST, {"q": term})

    assert _listed(response) == {str(builds[name].pk) for name in expected}


def test_search_by_id_and_by_build_number(admin_browser, builds):
    by_id = admin_browser.get(LIST, {"q": str(builds["timeout"].pk)})
    by_number = admin_browser.get(LIST, {"q": str(builds["failed"].build_number)})

    assert _listed(by_id) == {str(builds["timeout"].pk)}
    assert _listed(by_number) == {str(builds["failed"].pk)}  # number 2: only acme's app has a second build


def test_search_by_number_keeps_the_filters(admin_browser, builds):
    """Both projects have a build number 1; the tenant filter picks one of them."""
    response = admin_browser.get(LIST, {"q": "1", "tenant__id__exact": str(builds["success"].tenant_id)})

    assert _listed(response) == {str(builds["success"].pk)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "failed"}, ["failed", "timeout"]),
        ({"failure_kind__exact": "timeout"}, ["timeout"]),
        ({"tenant__id__exact": "TENANT"}, ["queued", "failed", "timeout"]),
        ({"project__id__exact": "PROJECT", "status__exact": "queued"}, ["queued"]),
    ],
)
def test_filters(admin_browser, builds, tenant, project, query, expected):
    values = {"TENANT": str(tenant.pk), "PROJECT": str(project.pk)}
    response = admin_browser.get(LIST, {key: values.get(value, value) for key, value in query.items()})

    assert _listed(response) == {str(builds[name].pk) for name in expected}


def test_newest_first_with_a_date_hierarchy(admin_browser, builds):
    Build.objects.filter(pk=builds["queued"].pk).update(created_at=timezone.now() - timedelta(days=400))

    html = admin_browser.get(LIST).content.decode()
    positions = {name: html.index(f'value="{build.pk}"') for name, build in builds.items()}

    assert positions["success"] < positions["timeout"] < positions["failed"] < positions["queued"]
    year = str((timezone.now() - timedelta(days=400)).year)
    assert f"?created_at__year={year}" in html  # the date hierarchy offers the older year


def test_change_page_shows_the_last_200_lines_read_only_and_links_the_full_log(admin_browser, builds, make_log_lines):
    build = builds["failed"]
    make_log_lines(build, 250)

    response = admin_browser.get(_change_url(build))
    html = response.content.decode()

    assert response.status_code == 200
    assert "line 50\n" not in html and "line 51\n" in html and "line 250</pre>" in html
    assert 'name="git_branch"' not in html  # every field read-only
    full_log_url = f"/admin/builds/build/{build.pk}/log.txt"
    assert f'href="{full_log_url}"' in html

    full = admin_browser.get(full_log_url)
    text = b"".join(full.streaming_content).decode()
    assert full["Content-Type"] == "text/plain; charset=utf-8"
    assert [line.split()[-1] for line in text.splitlines()] == [str(i) for i in range(1, 251)]


def test_full_log_of_an_unknown_build_is_404_and_needs_staff(admin_browser, client, builds):
    assert admin_browser.get(f"/admin/builds/build/{uuid.uuid4()}/log.txt").status_code == 404
    admin_browser.logout()
    assert client.get(f"/admin/builds/build/{builds['failed'].pk}/log.txt").status_code == 302  # to the login page


def test_builds_are_not_added_or_deleted_in_the_admin(admin_browser, builds):
    assert admin_browser.get("/admin/builds/build/add/").status_code == 403
    assert admin_browser.get(f"/admin/builds/build/{builds['queued'].pk}/delete/").status_code == 403


def test_full_log_streams_under_asgi(builds, operator, make_log_lines):
    """daphne serves the admin through ASGI: there the log streams from an async iterator."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    build = builds["failed"]
    make_log_lines(build, 2500)  # more than one chunk
    client = AsyncClient()

    async def fetch() -> tuple[object, str]:
        await client.aforce_login(operator)
        response = await client.get(f"/admin/builds/build/{build.pk}/log.txt")
        return response, b"".join([chunk async for chunk in response.streaming_content]).decode()

    response, text = async_to_sync(fetch)()

    assert response.is_async
    assert [line.split()[-1] for line in text.splitlines()] == [str(i) for i in range(1, 2501)]
