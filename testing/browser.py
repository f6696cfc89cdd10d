"""Headless Chromium (Debian's chromium and chromedriver) for browser tests, and what the page requested."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(record_requests: bool = False) -> webdriver.Chrome:
    """A headless Chrome driver; with record_requests, its performance log holds every request."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1024"):
        options.add_argument(argument)
    # No background traffic of the browser's own (updates, metrics, safe browsing) in the log.
    for argument in ("--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(argument)
    if record_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def requested_urls(driver: webdriver.Chrome) -> dict[str, str]:
    """Every URL the page asked for since the last call: "sent", or the reason it was blocked.

    Reads (and so empties) the performance log of a driver made with record_requests=True.
    """
    urls: dict[str, str] = {}
    blocked_ids: dict[str, str] = {}
    request_urls: dict[str, str] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            request_urls[params["requestId"]] = url
            urls.setdefault(url, "sent")
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked_ids[params["requestId"]] = params["blockedReason"]
    for request_id, reason in blocked_ids.items():
        if request_id in request_urls:
            urls[request_urls[request_id]] = reason
    return urls


def hosts_of(urls: dict[str, str]) -> set[str]:
    """The hosts (host:port) of the http(s) and ws(s) URLs among `urls`."""
    return {urlsplit(url).netloc for url in urls if urlsplit(url).scheme in ("http", "https", "ws", "wss")}
