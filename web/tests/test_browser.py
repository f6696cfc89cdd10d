"""The web UI and the browsable API in a real browser (headless Chromium) against a real daphne with
DEBUG off: real builds of real git repositories with buildah, pushed to a real registry."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from testing import ROOT, GitRepo, run_step
from testing.browser import requested_urls
from web.tests.conftest import PASSWORD

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]

AXE_SOURCE = (ROOT / "testing" / "vendor" / "axe.min.js").read_text()
BLOCKING_IMPACTS = {"serious", "critical"}
BUILD_TIMEOUT = 180


# --- helpers ---------------------------------------------------------------------------------


def wait(driver, condition, *, timeout: float = 60, what: str = "condition"):
    """Waits for condition(driver); on timeout says where the browser was and what it showed."""
    try:
        # Polled regions replace their HTML: an element read mid-swap is stale, so look again.
        return WebDriverWait(
            driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
        ).until(lambda d: condition(d))
    except TimeoutException:
        shown = driver.find_element(By.TAG_NAME, "body").text[:1500]
        raise AssertionError(f"waited {timeout}s for {what}; at {driver.current_url}, showing:\n{shown}") from None


def click(driver, element_id: str, *, what: str) -> None:
    """Clicks a button that may sit in a polled region: a swap between finding and clicking it
    leaves a stale element, so find it again (the wait ignores stale elements)."""
    wait(driver, lambda d: d.find_element(By.ID, element_id).click() or True, timeout=15, what=what)


def text_of(driver, css: str) -> str:
    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return elements[0].text if elements else ""


def screenshot(driver, artifacts: Path, name: str) -> None:
    driver.save_screenshot(str(artifacts / f"{name}.png"))


def assert_accessible(driver, page: str) -> None:
    """axe-core, injected by the test (the pages never load it): no serious or critical violation.
    Checked once the page has loaded and run its own scripts (a navigation may still be under way)."""
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", what=f"{page} to load")
    driver.execute_script(AXE_SOURCE)
    violations = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));"
    )
    assert isinstance(violations, list), violations
    blocking = [
        (v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS
    ]
    assert not blocking, f"{page}: {blocking}"


def assert_only_same_origin_requests(driver, stack) -> None:
    """Nothing fetched from anywhere but the server itself (no CDN, no fonts, no analytics)."""
    origin = urlsplit(stack.base_url).netloc
    foreign = {
        url: outcome
        for url, outcome in requested_urls(driver).items()
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != origin
    }
    assert not foreign, foreign


def log_in(driver, stack, user, tenant, artifacts: Path | None = None) -> None:
    """Through the login form and the navbar's tenant selector, as a person does."""
    driver.delete_all_cookies()
    driver.get(f"{stack.base_url}/")
    assert urlsplit(driver.current_url).path == "/accounts/login/"
    driver.find_element(By.ID, "id_username").send_keys(user.email)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    if artifacts is not None:
        screenshot(driver, artifacts, "01-login")
        assert_accessible(driver, "login")
    driver.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.ID, "tenant-select"), what="the tenant selector")
    assert "Choose a tenant" in driver.find_element(By.TAG_NAME, "h1").text
    Select(driver.find_element(By.ID, "tenant-select")).select_by_value(str(tenant.pk))  # submits on change
    wait(driver, lambda d: "Recent builds" in text_of(d, "h1"), what="the build list")


def create_build_from_the_form(driver, stack, project, *, commit: str, build_args: str = "", start: bool = True) -> str:
    driver.get(f"{stack.base_url}/builds/new/")
    Select(driver.find_element(By.ID, "id_project")).select_by_value(str(project.pk))
    branch = driver.find_element(By.ID, "id_git_branch")
    branch.clear()
    branch.send_keys("main")
    driver.find_element(By.ID, "id_git_commit").send_keys(commit)
    driver.find_element(By.ID, "id_build_args").send_keys(build_args)
    start_now = driver.find_element(By.ID, "id_start")
    assert start_now.is_selected()  # the default
    if not start:
        start_now.click()
    driver.find_element(By.ID, "build-submit").click()
    wait(driver, lambda d: re.search(r"/builds/[0-9a-f-]{36}/$", d.current_url), what="the build page")
    return urlsplit(driver.current_url).path.split("/")[2]


def log_texts(driver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log .line:not(.notice) .msg")]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def people(transactional_db, make_user, make_tenant):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    owner = make_user("web-owner@example.com")
    # The server checks passwords with its own (production) hashers, not the tests' fast one.
    hasher = PBKDF2PasswordHasher()
    owner.password = hasher.encode(PASSWORD, hasher.salt())
    owner.save(update_fields=["password"])
    tenant = make_tenant("web-acme", members={owner: "owner"})
    other_tenant = make_tenant("web-globex", members={make_user(): "owner"})
    return owner, tenant, other_tenant


@pytest.fixture
def repository(tmp_path, buildah_available):
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def buildah_available():
    import shutil

    from testing import need

    need(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")


# --- the tests -------------------------------------------------------------------------------


def test_a_person_builds_a_real_repository_and_watches_it_live(
    driver, web_stack, web_registry, people, repository, make_project, artifacts
):
    owner, tenant, _ = people
    # Eighty numbered lines: enough to scroll, so the follow/pause behaviour can be seen.
    commit = repository.commit_dockerfile(
        "ARG GREETING=hello\n"
        + run_step("echo greeting=$GREETING; i=0; while [ $i -lt 80 ]; do i=$((i+1)); echo line-$i; done")
    )
    project = make_project(
        tenant, name="web-app", repository_url=repository.url, image_repository=f"{web_registry.host}/web/app"
    )

    log_in(driver, web_stack, owner, tenant, artifacts)
    assert "No builds yet." in driver.find_element(By.ID, "build-rows").text
    assert_accessible(driver, "home (empty)")

    driver.get(f"{web_stack.base_url}/builds/new/")
    assert_accessible(driver, "new build form")
    build_id = create_build_from_the_form(
        driver, web_stack, project, commit=commit, build_args="GREETING=from-the-browser"
    )
    # The page is served with an empty log: every line it shows came over the WebSocket.
    wait(driver, lambda d: "greeting=from-the-browser" in log_texts(d), timeout=BUILD_TIMEOUT, what="log lines")
    screenshot(driver, artifacts, "02-build-running")
    wait(
        driver,
        lambda d: text_of(d, "#build-status") == "Success",
        timeout=BUILD_TIMEOUT,
        what="the status to turn to success",
    )
    wait(driver, lambda d: text_of(d, "#log-state") == "ended", what="the stream's end")
    screenshot(driver, artifacts, "03-build-success")

    from builds.models import Build, BuildLogLine

    build = Build.objects.get(pk=build_id)
    assert build.status == "success" and build.build_args == {"GREETING": "from-the-browser"}
    assert build.created_by == owner and build.source_commit == commit
    assert text_of(driver, "#image-digest") == build.image_digest and build.image_digest.startswith("sha256:")
    assert text_of(driver, "#image-reference") == build.image_reference
    assert web_registry.manifest_digest("web/app", build.image_reference.rsplit(":", 1)[1]) == build.image_digest
    assert driver.find_element(By.ID, "build-progress").get_attribute("value") == "100"

    # Every stored line exactly once, in order, numbered and anchored by its seq.
    stored = list(BuildLogLine.objects.filter(build_id=build_id).order_by("seq").values_list("seq", "message"))
    assert log_texts(driver) == [message for _, message in stored]
    first_seq = stored[0][0]
    anchor = driver.find_element(By.CSS_SELECTOR, f"#L{first_seq} a.ln")
    assert anchor.get_attribute("href").endswith(f"#L{first_seq}") and anchor.text == str(first_seq)
    assert driver.find_elements(By.CSS_SELECTOR, "#log .line.level-info")
    assert "line-80" in log_texts(driver)

    # Following the tail until the reader scrolls up; the button brings it back.
    log_box = driver.find_element(By.ID, "log")
    assert driver.execute_script("const l = arguments[0]; return l.scrollHeight > l.clientHeight;", log_box)
    assert driver.execute_script(
        "const l = arguments[0]; return l.scrollHeight - l.scrollTop - l.clientHeight < 8;", log_box
    )
    driver.execute_script("arguments[0].scrollTop = 0; arguments[0].dispatchEvent(new Event('scroll'));", log_box)
    follow = driver.find_element(By.ID, "log-follow")
    wait(driver, lambda d: follow.get_attribute("aria-pressed") == "false", what="the follow to pause")
    follow.click()
    assert follow.get_attribute("aria-pressed") == "true"
    assert driver.execute_script("return arguments[0].scrollTop;", log_box) > 0
    assert_accessible(driver, "build page")

    # The download link serves the whole log as text, with this session.
    download = driver.find_element(By.ID, "log-download").get_attribute("href")
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text()).then(done);",
        download,
    )
    assert "greeting=from-the-browser" in text and len(text.splitlines()) == len(stored)

    # The list shows it with its badge, branch, commit, duration and who started it.
    driver.get(f"{web_stack.base_url}/")
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-build-id="{build_id}"]')
    assert "Success" in row.text and "main" in row.text and commit[:12] in row.text and owner.email in row.text
    assert re.search(r"\dm \d\ds", row.text)
    screenshot(driver, artifacts, "04-build-list")
    assert_accessible(driver, "home")
    assert_only_same_origin_requests(driver, web_stack)


def test_the_list_updates_live_and_a_running_build_is_cancelled_from_its_page(
    driver, web_stack, people, repository, make_project, artifacts
):
    owner, tenant, _ = people
    commit = repository.commit_dockerfile(run_step("echo about-to-sleep; sleep 60"))
    project = make_project(tenant, name="web-sleeper", repository_url=repository.url)
    log_in(driver, web_stack, owner, tenant)

    # A build created elsewhere (a CI job through the API) appears in the open list by itself.
    from testing import StackClient

    api_build = StackClient(web_stack, owner, tenant).create_build(project, git_commit=commit)
    wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-build-id="{api_build["id"]}"]'),
        what="the list to show the new build",
    )

    build_id = create_build_from_the_form(driver, web_stack, project, commit=commit)
    wait(driver, lambda d: "about-to-sleep" in log_texts(d), timeout=BUILD_TIMEOUT, what="the sleeping step")
    assert text_of(driver, "#build-status") == "In progress"
    screenshot(driver, artifacts, "05-sleeping-build")
    click(driver, "action-cancel", what="the cancel button")
    wait(
        driver, lambda d: text_of(d, "#build-status") == "Cancelled", timeout=60, what="the status to turn to cancelled"
    )
    wait(driver, lambda d: text_of(d, "#log-state") == "ended", timeout=60, what="the stream's end")
    assert "Build finished: cancelled" in driver.find_element(By.ID, "log").text
    assert driver.find_elements(By.ID, "action-retry") and not driver.find_elements(By.ID, "action-cancel")
    screenshot(driver, artifacts, "06-cancelled-build")

    from builds.models import Build

    assert Build.objects.get(pk=build_id).status == "cancelled"
    assert_accessible(driver, "cancelled build page")


def test_another_tenants_build_is_a_404_page(driver, web_stack, people, make_project, make_build, artifacts):
    owner, tenant, other_tenant = people
    theirs = make_build(make_project(other_tenant, name="theirs"))
    log_in(driver, web_stack, owner, tenant)
    driver.get(f"{web_stack.base_url}/builds/{theirs.pk}/")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "theirs" not in driver.page_source
    screenshot(driver, artifacts, "07-other-tenant-404")
    assert_accessible(driver, "404 page")
    status = requests.get(f"{web_stack.base_url}/builds/{theirs.pk}/", cookies=session_cookies(driver), timeout=10)
    assert status.status_code == 404


def session_cookies(driver) -> dict[str, str]:
    return {cookie["name"]: cookie["value"] for cookie in driver.get_cookies()}


def test_the_browsable_api_with_a_session_and_csrf(driver, web_stack, people, make_project, artifacts):
    owner, tenant, _ = people
    project = make_project(tenant, name="api-form")
    log_in(driver, web_stack, owner, tenant)

    # The browsable API, DEBUG off: the navbar has the tenant chosen, and its raw-data form posts JSON.
    driver.get(f"{web_stack.base_url}/api/v1/builds")
    selected = Select(driver.find_element(By.ID, "tenant-select")).first_selected_option
    assert selected.get_attribute("value") == str(tenant.pk)
    # DRF's template has no <html lang>; web/static/web/api.js sets it once the page's scripts ran.
    wait(driver, lambda d: d.execute_script("return document.documentElement.lang") == "en", what="api.js")
    assert_accessible(driver, "browsable API")
    content = driver.find_element(By.ID, "id__content")
    content.clear()
    content.send_keys(f'{{"project_id": "{project.pk}", "git_branch": "from-the-form"}}')
    screenshot(driver, artifacts, "08-browsable-api-form")
    driver.find_element(By.CSS_SELECTOR, "#post-generic-content-form form button.btn-primary").click()
    wait(driver, lambda d: "HTTP 201 Created" in d.page_source, what="the 201 page")
    screenshot(driver, artifacts, "09-browsable-api-created")

    from builds.models import Build

    created = Build.objects.get(project=project)
    assert created.git_branch == "from-the-form" and created.created_by == owner

    # A session POST without the CSRF token is refused; with it (as the browsable API sends it) it passes.
    post = (
        "const [url, token, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];"
        "const headers = {'Content-Type': 'application/json'};"
        "if (token) headers['X-CSRFToken'] = token;"
        "fetch(url, {method: 'POST', credentials: 'same-origin', headers, body: '{}'})"
        ".then(async r => done([r.status, await r.text()]));"
    )
    cancel_url = f"/api/v1/builds/{created.pk}/cancel"
    status, body = driver.execute_async_script(post, cancel_url, None)
    assert status == 403 and "CSRF" in body
    assert Build.objects.get(pk=created.pk).status == "queued"
    token = session_cookies(driver)["csrftoken"]
    status, body = driver.execute_async_script(post, cancel_url, token)
    assert status == 200, body
    assert Build.objects.get(pk=created.pk).status == "cancelled"

    # Token clients are untouched: no header, the same 400 as ever.
    from testing import access_token_for

    response = requests.get(
        f"{web_stack.base_url}/api/v1/builds",
        headers={"Authorization": f"Bearer {access_token_for(owner)}"},
        cookies=session_cookies(driver),
        timeout=10,
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["error"], body["details"]) == (
        "INVALID_REQUEST",
        "X-Tenant-ID header is required",
        {"header": "X-Tenant-ID", "reason": "missing"},
    )
    assert_only_same_origin_requests(driver, web_stack)


def test_the_log_reconnects_after_the_server_drops_it(driver, web_stack, people, repository, make_project, artifacts):
    owner, tenant, _ = people
    commit = repository.commit_dockerfile(run_step("echo after-the-drop"))
    project = make_project(tenant, name="web-reconnect", repository_url=repository.url)
    log_in(driver, web_stack, owner, tenant)
    # Created, not started: its stream stays open and idle.
    build_id = create_build_from_the_form(driver, web_stack, project, commit=commit, start=False)
    wait(driver, lambda d: text_of(d, "#log-state") == "live", what="the stream to open")

    # daphne dies with the socket open (a queued build has no worker to lose), and comes back.
    web_stack.restart_server()
    wait(driver, lambda d: text_of(d, "#log-state") == "live", timeout=60, what="the stream to reconnect")
    assert not driver.find_elements(By.CSS_SELECTOR, "#log .line.level-error")

    # Started elsewhere (the page's Start button would reload it): the lines reach the reconnected socket.
    from testing import StackClient

    StackClient(web_stack, owner, tenant).start(build_id)
    wait(driver, lambda d: text_of(d, "#build-status") == "Success", timeout=BUILD_TIMEOUT, what="success")
    wait(driver, lambda d: text_of(d, "#log-state") == "ended", what="the stream's end")

    from builds.models import BuildLogLine

    stored = list(BuildLogLine.objects.filter(build_id=build_id).order_by("seq").values_list("message", flat=True))
    assert log_texts(driver) == stored and "after-the-drop" in stored
