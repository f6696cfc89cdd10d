"""Headless Chromium for browser tests (Debian's chromium and chromium-driver), and what a page requested."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(record_requests: bool = False) -> webdriver.Chrome:
    """A headless Chrome driven through Debian's chromedriver (nothing is downloaded).

    record_requests: keep Chrome's performance log, for requested_urls().
    """
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root, where Chrome's own sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    if record_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def requested_urls(driver: webdriver.Chrome) -> dict[str, str]:
    """URL -> "sent", or the reason Chrome blocked it, for requests since the last call.

    Reads (and so drains) Chrome's performance log; needs chromium(record_requests=True).
    """
    urls: dict[str, str] = {}
    by_request_id: dict[str, str] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            by_request_id[params["requestId"]] = url
            urls.setdefault(url, "sent")
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            url = by_request_id.get(params["requestId"])
            if url is not None:
                urls[url] = params["blockedReason"]
    return urls


def hosts_of(urls: dict[str, str]) -> set[str]:
    """The hosts (host:port) of the http(s) and ws(s) URLs among `urls`."""
    return {urlsplit(url).netloc for url in urls if urlsplit(url).scheme in ("http", "https", "ws", "wss")}
