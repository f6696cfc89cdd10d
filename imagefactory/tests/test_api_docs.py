"""The API docs in a real browser (headless Chromium) against daphne in production mode (DEBUG off).

Swagger UI and ReDoc render from this server's own static files; no request leaves the machine; one
Authorize with a token and a tenant, then "Try it out" reaches the same server.
"""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest
from drf_spectacular.generators import SchemaGenerator
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from testing import Stack, access_token_for, need
from testing.browser import CHROMEDRIVER, CHROMIUM, chromium, hosts_of, requested_urls

pytestmark = [pytest.mark.e2e]

TITLE = "ImageFactory Build Execution API"


def operation_count() -> int:
    return sum(len(methods) for methods in SchemaGenerator().get_schema(public=True)["paths"].values())


@pytest.fixture
def docs_stack(transactional_db, tmp_path):
    running = Stack(tmp_path / "stack", extra_env={"DEBUG": "0"}).start()
    yield running
    running.stop()


@pytest.fixture
def browser():
    need(shutil.which(CHROMIUM) is not None, "chromium is not installed (apt-get install chromium)")
    need(shutil.which(CHROMEDRIVER) is not None, "chromedriver is not installed (apt-get install chromium-driver)")
    driver = chromium(record_requests=True)
    yield driver
    driver.quit()


def wait_for(driver, css: str, *, timeout: float = 30, count: int = 1):
    """The elements matching `css`, once there are at least `count` of them."""
    WebDriverWait(driver, timeout).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= count)
    return driver.find_elements(By.CSS_SELECTOR, css)


def assert_nothing_left_the_machine(driver, server: str) -> dict[str, str]:
    urls = requested_urls(driver)
    sent_elsewhere = {url for url, outcome in urls.items() if outcome == "sent" and urlsplit(url).netloc != server}
    assert not {url for url in sent_elsewhere if urlsplit(url).scheme in ("http", "https", "ws", "wss")}, urls
    return urls


def test_swagger_ui_renders_from_this_server_only(docs_stack, browser):
    server = urlsplit(docs_stack.base_url).netloc
    browser.get(f"{docs_stack.base_url}/api/v1/docs/")

    operations = wait_for(browser, ".opblock", count=operation_count())
    assert TITLE in wait_for(browser, ".info .title")[0].text
    summaries = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/v1/builds", "/api/v1/builds/{build_id}/logs", "/api/v1/projects"} <= summaries
    assert len(operations) == operation_count()
    urls = assert_nothing_left_the_machine(browser, server)
    assert f"{docs_stack.base_url}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in urls
    assert hosts_of(urls) == {server}


def test_redoc_renders_from_this_server_only(docs_stack, browser):
    server = urlsplit(docs_stack.base_url).netloc
    browser.get(f"{docs_stack.base_url}/api/v1/redoc/")

    wait_for(browser, "[data-section-id^='operation/']", count=operation_count())
    assert TITLE in wait_for(browser, "h1")[0].text
    urls = assert_nothing_left_the_machine(browser, server)
    assert f"{docs_stack.base_url}/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in urls
    # ReDoc's sidebar links its vendor's logo from a CDN: the page's CSP blocks it.
    assert all(outcome != "sent" for url, outcome in urls.items() if urlsplit(url).netloc not in ("", server))


def test_authorize_once_then_try_it_out_lists_the_tenants_builds(
    docs_stack, browser, owner, tenant, make_project, make_build
):
    build = make_build(make_project(tenant, name="payments-api"))
    browser.get(f"{docs_stack.base_url}/api/v1/docs/#/Builds/listBuilds")
    wait_for(browser, ".opblock", count=operation_count())

    wait_for(browser, "button.authorize")[0].click()
    # The dialog has a form per security scheme: the bearer token first, then X-Tenant-ID.
    for scheme, value in (("bearerAuth", access_token_for(owner)), ("tenantId", str(tenant.pk))):
        form = next(f for f in wait_for(browser, ".modal-ux .auth-container", count=2) if f.text.startswith(scheme))
        form.find_element(By.CSS_SELECTOR, "input").send_keys(value)
        form.find_element(By.CSS_SELECTOR, "button.authorize").click()
    modal = browser.find_element(By.CSS_SELECTOR, ".modal-ux")
    WebDriverWait(browser, 30).until(lambda _: modal.text.count("Authorized") == 2)
    browser.find_elements(By.CSS_SELECTOR, ".modal-ux button.btn-done")[0].click()

    operation = wait_for(browser, "#operations-Builds-listBuilds")[0]
    operation.find_element(By.CSS_SELECTOR, "button.execute").click()
    response = "#operations-Builds-listBuilds .live-responses-table tbody"
    status = wait_for(browser, f"{response} .response-col_status")[0]
    body = browser.find_element(By.CSS_SELECTOR, f"{response} .response-col_description").text

    assert status.text.strip().startswith("200")
    assert str(build.pk) in body
    assert_nothing_left_the_machine(browser, urlsplit(docs_stack.base_url).netloc)
