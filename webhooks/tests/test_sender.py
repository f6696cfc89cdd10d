"""The SSRF-safe sender: which addresses are refused, the connection goes to the checked address,
no redirects, 1 KiB of the answer. Real sockets on loopback (allowed explicitly where needed)."""

from __future__ import annotations

import ipaddress

import pytest

from testing import TcpListener, WebhookReceiver
from webhooks import sender

LOOPBACK_ONLY = sender.parse_networks(["127.0.0.0/8"])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "169.254.169.254",  # the cloud metadata address
        "169.254.1.1",
        "fe80::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "fc00::1",
        "fd12:3456::1",
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "192.0.2.1",  # documentation ranges are not global either
    ],
)
def test_special_addresses_are_refused(address):
    assert sender.refusal(ipaddress.ip_address(address), []) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert sender.refusal(ipaddress.ip_address(address), []) is None


def test_allowed_networks_open_exactly_their_range():
    allowed = sender.parse_networks(["10.1.0.0/16", "127.0.0.2/32"])

    assert sender.refusal(ipaddress.ip_address("10.1.2.3"), allowed) is None
    assert sender.refusal(ipaddress.ip_address("127.0.0.2"), allowed) is None
    assert sender.refusal(ipaddress.ip_address("10.2.0.1"), allowed) is not None
    assert sender.refusal(ipaddress.ip_address("127.0.0.1"), allowed) is not None


def test_a_name_resolving_to_loopback_is_refused_after_resolution():
    with pytest.raises(sender.Refused, match="loopback"):
        sender.checked_address("localhost", 80, [])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_target_without_the_allow_list_is_refused_and_never_connected(host):
    listener = TcpListener()
    try:
        result = sender.post(f"http://{host}:{listener.port}/hook", b"{}", {}, timeout=5, allowed=[])
    finally:
        listener.close()

    assert result.outcome == sender.REFUSED
    assert "loopback" in result.error and result.address.startswith(("127.", "::1"))
    assert listener.connections == 0


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/"])
def test_only_http_and_https(url):
    assert sender.post(url, b"{}", {}, timeout=5, allowed=[]).outcome == sender.REFUSED


def test_posts_to_the_checked_address_with_the_host_header_of_the_name():
    receiver = WebhookReceiver(reply=b"x" * 5000).start()
    try:
        result = sender.post(
            f"http://localhost:{receiver.port}/hook?a=1",
            b'{"n":1}',
            {"Content-Type": "application/json", "X-Test": "yes"},
            timeout=5,
            allowed=LOOPBACK_ONLY,
        )
    finally:
        receiver.stop()

    assert (result.outcome, result.status_code, result.address) == (sender.SUCCESS, 200, "127.0.0.1")
    assert result.excerpt == "x" * 1024  # the first KiB only
    (request,) = receiver.received
    assert (request.path, request.body, request.headers["x-test"]) == ("/hook?a=1", b'{"n":1}', "yes")
    assert request.headers["host"] == f"localhost:{receiver.port}"


def test_redirects_are_not_followed():
    target = WebhookReceiver().start()
    redirector = WebhookReceiver().start()
    redirector.redirect_to = target.url
    try:
        result = sender.post(redirector.url, b"{}", {}, timeout=5, allowed=LOOPBACK_ONLY)
    finally:
        target.stop()
        redirector.stop()

    assert (result.outcome, result.status_code) == (sender.HTTP_ERROR, 302)
    assert target.received == []


def test_error_statuses_and_closed_ports_are_failures_not_exceptions():
    receiver = WebhookReceiver(status=503, reply=b"busy").start()
    try:
        busy = sender.post(receiver.url, b"{}", {}, timeout=5, allowed=LOOPBACK_ONLY)
    finally:
        receiver.stop()
    closed = sender.post(receiver.url, b"{}", {}, timeout=5, allowed=LOOPBACK_ONLY)

    assert (busy.outcome, busy.status_code, busy.excerpt) == (sender.HTTP_ERROR, 503, "busy")
    assert closed.outcome == sender.NETWORK_ERROR and closed.status_code is None and closed.error
