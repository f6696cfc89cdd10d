"""The API in a browser: session login, the session's tenant, CSRF on session writes, the browsable API
with DEBUG off; and token clients exactly as before."""

from __future__ import annotations

import pytest

from builds.models import Build
from testing import assert_envelope, stable_bytes

pytestmark = pytest.mark.django_db

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(autouse=True)
def _production(settings):
    settings.DEBUG = False


def csrf_header(browser) -> dict:
    return {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}


def test_a_session_reads_the_api_in_its_chosen_tenant(
    browser_for, owner, tenant, other_tenant, project, make_build, make_project
):
    mine = make_build(project)
    make_build(make_project(other_tenant))
    response = browser_for(owner, tenant).get("/api/v1/builds")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert [b["id"] for b in response.json()["builds"]] == [str(mine.pk)]


def test_the_browsable_api_renders_with_debug_off_for_html_only(browser_for, owner, tenant, project):
    browser = browser_for(owner, tenant)
    page = browser.get("/api/v1/builds", HTTP_ACCEPT=HTML)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    content = page.content.decode()
    assert 'id="tenant-select"' in content and f'value="{tenant.pk}" selected' in content
    assert "Log out" in content and "ImageFactory API" in content
    assert browser.get("/api/v1/builds", HTTP_ACCEPT="*/*")["Content-Type"] == "application/json"


def test_an_anonymous_browser_gets_the_401_envelope_in_a_page_with_the_login_link(client):
    page = client.get("/api/v1/builds", HTTP_ACCEPT=HTML)
    assert page.status_code == 401 and page["Content-Type"].startswith("text/html")
    content = page.content.decode()
    assert 'id="login-link"' in content and "/accounts/login/?next=/api/v1/builds" in content
    assert "UNAUTHORIZED" in content


def test_a_session_without_a_tenant_gets_the_selector_and_the_same_400(browser_for, owner, tenant):
    browser = browser_for(owner)
    page = browser.get("/api/v1/builds", HTTP_ACCEPT=HTML)
    assert page.status_code == 400 and 'id="tenant-select"' in page.content.decode()
    body = assert_envelope(browser.get("/api/v1/builds"), 400, "INVALID_REQUEST")
    assert body["details"] == {"header": "X-Tenant-ID", "reason": "missing"}


def test_a_session_write_without_the_csrf_token_is_refused(browser_for, owner, tenant, project):
    browser = browser_for(owner, tenant, csrf=True)
    response = browser.post(
        "/api/v1/builds", {"project_id": str(project.pk), "git_branch": "main"}, content_type="application/json"
    )
    body = assert_envelope(response, 403, "FORBIDDEN")
    assert "CSRF" in body["error"]
    assert not Build.objects.exists()


def test_a_session_writes_with_the_csrf_token(browser_for, owner, tenant, project):
    browser = browser_for(owner, tenant, csrf=True)
    created = browser.post(
        "/api/v1/builds",
        {"project_id": str(project.pk), "git_branch": "main"},
        content_type="application/json",
        **csrf_header(browser),
    )
    assert created.status_code == 201, created.content
    build_id = created.json()["id"]
    for action, status in (("start", 200), ("cancel", 200), ("retry", 201)):
        response = browser.post(
            f"/api/v1/builds/{build_id}/{action}", content_type="application/json", **csrf_header(browser)
        )
        assert response.status_code == status, (action, response.content)
    for action in ("start", "cancel", "retry"):  # and refused without the token, every one
        assert browser.post(f"/api/v1/builds/{build_id}/{action}", content_type="application/json").status_code == 403


def test_the_header_wins_over_the_session(browser_for, owner, tenant, other_tenant):
    response = browser_for(owner, tenant).get("/api/v1/builds", HTTP_X_TENANT_ID=str(other_tenant.pk))
    assert_envelope(response, 403, "FORBIDDEN")


def test_a_token_client_without_the_header_gets_the_same_400_even_with_a_session(browser_for, api, owner, tenant):
    plain = api(owner).get("/api/v1/builds")
    body = assert_envelope(plain, 400, "INVALID_REQUEST")
    assert body == {
        **body,
        "error": "X-Tenant-ID header is required",
        "details": {"header": "X-Tenant-ID", "reason": "missing"},
    }
    # The same token from a client that also holds a session with a chosen tenant: the token
    # authenticates the request, so the session's tenant does not apply.
    browser = browser_for(owner, tenant)
    with_session = browser.get(
        "/api/v1/builds", HTTP_AUTHORIZATION=f"Bearer {api(owner)._credentials['HTTP_AUTHORIZATION'].split()[1]}"
    )
    assert with_session.status_code == 400
    assert stable_bytes(with_session) == stable_bytes(plain)
    assert with_session.headers.get("WWW-Authenticate") == plain.headers.get("WWW-Authenticate")


def test_token_clients_asking_for_html_still_get_json_errors(api, owner):
    response = api(owner).get("/api/v1/builds", HTTP_ACCEPT=HTML)
    assert_envelope(response, 400, "INVALID_REQUEST")
