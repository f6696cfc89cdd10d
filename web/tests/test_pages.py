"""The web UI's pages through Django's test client: login, the tenant selector, isolation, buttons, the form."""

from __future__ import annotations

import re
import uuid

import pytest

from builds.models import Build
from tenants.access import SESSION_TENANT_KEY
from web.tests.conftest import csrf_token_of

pytestmark = pytest.mark.django_db

_CSRF_VALUE = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def same_page(first: bytes, second: bytes) -> bool:
    return _CSRF_VALUE.sub(b"", first) == _CSRF_VALUE.sub(b"", second)


def test_pages_need_a_login(client):
    for path in ("/", "/builds/new/", f"/builds/{uuid.uuid4()}/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next="), path


def test_a_wrong_password_stays_on_the_form(client, owner):
    response = client.post("/accounts/login/", {"username": owner.email, "password": "wrong"})
    assert response.status_code == 200 and b"Please enter a correct" in response.content
    assert client.get("/").status_code == 302


def test_without_a_chosen_tenant_the_home_page_asks_for_one(browser_for, owner, tenant):
    response = browser_for(owner).get("/")
    assert response.status_code == 400
    assert b"Choose a tenant" in response.content and b'id="tenant-select"' in response.content
    assert str(tenant.pk).encode() in response.content  # the owner's tenant is offered


def test_the_selector_keeps_the_tenant_in_the_session(browser_for, owner, tenant):
    browser = browser_for(owner, tenant)
    assert browser.session[SESSION_TENANT_KEY] == str(tenant.pk)
    assert browser.get("/").status_code == 200


def test_the_selector_refuses_a_tenant_the_user_is_no_member_of(browser_for, owner, tenant, other_tenant):
    browser = browser_for(owner, tenant)
    page = browser.get("/")
    response = browser.post(
        "/tenant/", {"tenant_id": str(other_tenant.pk), "csrfmiddlewaretoken": csrf_token_of(page)}, follow=True
    )
    assert b"You do not have access to this tenant" in response.content
    assert browser.session[SESSION_TENANT_KEY] == str(tenant.pk)


def test_the_selector_never_redirects_off_site(browser_for, owner, tenant):
    browser = browser_for(owner, tenant)
    page = browser.get("/")
    response = browser.post(
        "/tenant/",
        {"tenant_id": str(tenant.pk), "next": "https://evil.example/", "csrfmiddlewaretoken": csrf_token_of(page)},
    )
    assert response["Location"] == "/"


def test_home_lists_only_the_chosen_tenants_builds(browser_for, owner, tenant, other_tenant, make_project, make_build):
    mine = make_build(make_project(tenant, name="mine"), git_branch="feature/x", created_by=owner)
    theirs = make_build(make_project(other_tenant, name="theirs"))
    for path in ("/", "/builds/rows/"):
        content = browser_for(owner, tenant).get(path).content.decode()
        assert f"/builds/{mine.pk}/" in content and "feature/x" in content and owner.email in content
        assert str(theirs.pk) not in content


def test_another_tenants_build_is_the_404_page(
    browser_for, owner, tenant, other_tenant, make_project, make_build, settings
):
    settings.DEBUG = False
    theirs = make_build(make_project(other_tenant))
    browser = browser_for(owner, tenant)
    browser.get("/")  # shows (and so drops) the "Tenant: acme" message
    for path in (f"/builds/{theirs.pk}/", f"/builds/{theirs.pk}/panel/", f"/builds/{theirs.pk}/stream-token/"):
        unknown = str(uuid.uuid4())
        response = browser.get(path)
        missing = browser.get(path.replace(str(theirs.pk), unknown))
        assert response.status_code == missing.status_code == 404, path
        # Identical but for the page's own address (the selector's "next") and the masked CSRF token.
        assert same_page(response.content, missing.content.replace(unknown.encode(), str(theirs.pk).encode()))
    assert b"Not found" in browser.get(f"/builds/{theirs.pk}/").content
    page = browser.get("/")
    response = browser.post(f"/builds/{theirs.pk}/cancel/", {"csrfmiddlewaretoken": csrf_token_of(page)})
    assert response.status_code == 404
    assert Build.objects.get(pk=theirs.pk).status == "queued"


@pytest.mark.parametrize(
    "role,status,buttons",
    [
        ("owner", "queued", {"start", "cancel"}),
        ("developer", "queued", {"start", "cancel"}),
        ("viewer", "queued", set()),
        ("developer", "in_progress", {"cancel"}),
        ("developer", "failed", {"retry"}),
        ("viewer", "failed", set()),
        ("developer", "success", set()),
    ],
)
def test_buttons_follow_the_role_and_the_status(
    role, status, buttons, browser_for, member_of, tenant, project, make_build
):
    build = make_build(project, status=status)
    content = browser_for(member_of(tenant, role), tenant).get(f"/builds/{build.pk}/").content.decode()
    shown = {action for action in ("start", "cancel", "retry") if f'id="action-{action}"' in content}
    assert shown == buttons


def test_a_viewer_cannot_cancel_by_posting_anyway(browser_for, member_of, tenant, project, make_build):
    build = make_build(project)
    browser = browser_for(member_of(tenant, "viewer"), tenant)
    page = browser.get(f"/builds/{build.pk}/")
    response = browser.post(f"/builds/{build.pk}/cancel/", {"csrfmiddlewaretoken": csrf_token_of(page)})
    assert response.status_code == 403 and b"build:cancel" in response.content
    assert Build.objects.get(pk=build.pk).status == "queued"


def test_cancel_goes_through_the_service(browser_for, owner, tenant, project, make_build):
    build = make_build(project)
    browser = browser_for(owner, tenant, csrf=True)
    page = browser.get(f"/builds/{build.pk}/")
    response = browser.post(f"/builds/{build.pk}/cancel/", {"csrfmiddlewaretoken": csrf_token_of(page)}, follow=True)
    assert b"Build cancelled." in response.content
    build.refresh_from_db()
    assert build.status == "cancelled" and build.cancel_reason == "Cancelled by user"
    # A second cancel is refused by the service's transition, shown as a message, not a 500.
    response = browser.post(f"/builds/{build.pk}/cancel/", {"csrfmiddlewaretoken": csrf_token_of(page)}, follow=True)
    assert response.status_code == 200 and b"Cannot cancel a build that is cancelled" in response.content


def test_retry_opens_the_new_attempt(browser_for, owner, tenant, project, make_build):
    build = make_build(project, status="failed")
    browser = browser_for(owner, tenant)
    page = browser.get(f"/builds/{build.pk}/")
    response = browser.post(f"/builds/{build.pk}/retry/", {"csrfmiddlewaretoken": csrf_token_of(page)})
    retried = Build.objects.get(retry_of=build)
    assert response["Location"] == f"/builds/{retried.pk}/"


def test_writes_without_the_csrf_token_are_refused(browser_for, owner, tenant, project, make_build):
    build = make_build(project)
    response = browser_for(owner, tenant, csrf=True).post(f"/builds/{build.pk}/cancel/")
    assert response.status_code == 403
    assert Build.objects.get(pk=build.pk).status == "queued"


def test_the_form_creates_and_starts_a_build(browser_for, owner, tenant, project):
    browser = browser_for(owner, tenant, csrf=True)
    page = browser.get("/builds/new/")
    response = browser.post(
        "/builds/new/",
        {
            "project": str(project.pk),
            "git_branch": "release/1.2",
            "git_commit": "ABCDEF1",
            "build_args": "GREETING=hi there\n\nEMPTY=",
            "start": "on",
            "csrfmiddlewaretoken": csrf_token_of(page),
        },
    )
    build = Build.objects.get(project=project)
    assert response["Location"] == f"/builds/{build.pk}/"
    assert (build.git_branch, build.git_commit, build.build_args) == (
        "release/1.2",
        "abcdef1",
        {"GREETING": "hi there", "EMPTY": ""},
    )
    assert build.status == "in_progress" and build.created_by == owner


@pytest.mark.parametrize(
    "field,value,error",
    [
        ("git_branch", "bad..branch", "git_branch"),
        ("git_commit", "not-hex!", "git_commit"),
        ("build_args", "NO_EQUALS_SIGN", "expected KEY=VALUE"),
        ("build_args", "1BAD=x", "build_args"),
    ],
)
def test_the_form_shows_the_apis_validation(field, value, error, browser_for, owner, tenant, project):
    browser = browser_for(owner, tenant)
    data = {"project": str(project.pk), "git_branch": "main", field: value}
    response = browser.post("/builds/new/", data)
    assert response.status_code == 200 and response.context["form"].errors, response.context["form"].errors
    assert error in str(response.context["form"].errors) or field in response.context["form"].errors
    assert not Build.objects.exists()


def test_the_form_offers_only_the_tenants_projects(browser_for, owner, tenant, other_tenant, project, make_project):
    theirs = make_project(other_tenant)
    browser = browser_for(owner, tenant)
    content = browser.get("/builds/new/").content.decode()
    assert str(project.pk) in content and str(theirs.pk) not in content
    response = browser.post("/builds/new/", {"project": str(theirs.pk), "git_branch": "main"})
    assert "project" in response.context["form"].errors and not Build.objects.exists()


def test_a_viewer_cannot_open_the_form(browser_for, member_of, tenant, project):
    response = browser_for(member_of(tenant, "viewer"), tenant).get("/builds/new/")
    assert response.status_code == 403 and b"build:create" in response.content


def test_the_stream_token_opens_the_log_stream_as_the_user(browser_for, owner, tenant, project, make_build):
    from accounts.authentication import authenticate_access_token

    build = make_build(project)
    response = browser_for(owner, tenant).get(f"/builds/{build.pk}/stream-token/")
    grant = response.json()
    assert response["Cache-Control"] == "no-store"
    assert grant["tenant_id"] == str(tenant.pk)
    assert authenticate_access_token(grant["token"]) == owner


def test_logout_is_a_post(browser_for, owner, tenant):
    browser = browser_for(owner, tenant)
    page = browser.get("/")
    assert browser.get("/accounts/logout/").status_code == 405
    response = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_token_of(page)})
    assert response.status_code == 302 and browser.get("/").status_code == 302
