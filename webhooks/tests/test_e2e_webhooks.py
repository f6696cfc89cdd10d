"""Outgoing webhooks end to end: a real daphne (and Celery worker in services mode), a real build with
buildah pushing to a real registry, and receivers started by the test on loopback ports.

The stack allows 127.0.0.2/32 only (WEBHOOK_ALLOWED_NETWORKS): receivers listen there, and a target
on 127.0.0.1 is the refused one. Retries start after about 1 s (WEBHOOK_RETRY_BASE_SECONDS).
"""

from __future__ import annotations

import json
import shutil
import socket
import time

import pytest

from testing import Stack, StackClient, TcpListener, WebhookReceiver, need, wait_until
from webhooks.signer import verify

pytestmark = pytest.mark.e2e
RECEIVER_HOST = "127.0.0.2"


@pytest.fixture(scope="module")
def webhook_stack(django_db_setup, django_db_blocker, tmp_path_factory):
    need(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")
    running = Stack(
        tmp_path_factory.mktemp("webhook-stack"),
        extra_env={
            "WEBHOOK_ALLOWED_NETWORKS": f"{RECEIVER_HOST}/32",
            "WEBHOOK_RETRY_BASE_SECONDS": "1",
            "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "4",
            "WEBHOOK_SWEEP_INTERVAL_SECONDS": "3",
        },
    )
    with django_db_blocker.unblock():
        running.start()
    yield running
    running.stop()


@pytest.fixture
def client(webhook_stack, transactional_db, owner, tenant):
    return StackClient(webhook_stack, owner, tenant)


def subscribe(client: StackClient, url: str, events: list[str]) -> dict:
    response = client.post("/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client: StackClient, webhook: dict) -> list[dict]:
    return client.get(f"/webhooks/{webhook['id']}/deliveries", params={"limit": 100}).json()["deliveries"]


def free_receiver_port() -> int:
    with socket.socket() as sock:
        sock.bind((RECEIVER_HOST, 0))
        return sock.getsockname()[1]


def test_a_receiver_gets_created_started_succeeded_signed_and_in_order(client, engine_project, webhook_stack):
    receiver = WebhookReceiver(RECEIVER_HOST).start()
    try:
        webhook = subscribe(client, receiver.url, ["build.*"])
        build = client.create_build(engine_project())
        client.start(build["id"])
        final = client.wait_for(build["id"], timeout=600)
        assert final["status"] == "success", client.log_messages(build["id"])[-20:]
        wait_until(lambda: len(receiver.received) >= 3, timeout=120, what="three webhook deliveries")
    finally:
        receiver.stop()

    bodies = [json.loads(item.body) for item in receiver.received]
    assert [body["event"] for body in bodies] == ["build.created", "build.started", "build.succeeded"]
    assert [body["build"]["status"] for body in bodies] == ["queued", "in_progress", "success"]
    assert bodies[-1]["build"] == client.build(build["id"])  # exactly what GET /builds/{id} shows
    for item in receiver.received:
        header = item.headers["x-imagefactory-signature"]
        assert verify(webhook["secret"], item.body, header, now=time.time(), tolerance=600), header
        assert not verify("whsec_wrong", item.body, header, now=time.time(), tolerance=600)
    log = deliveries(client, webhook)
    assert [(d["event"], d["status"], d["attempt_count"]) for d in reversed(log)] == [
        ("build.created", "delivered", 1),
        ("build.started", "delivered", 1),
        ("build.succeeded", "delivered", 1),
    ]
    assert {d["id"] for d in log} == {body["delivery_id"] for body in bodies}


def test_a_receiver_down_at_first_gets_the_event_once_from_a_retry(client, project):
    receiver = WebhookReceiver(RECEIVER_HOST, free_receiver_port())  # not listening yet
    webhook = subscribe(client, receiver.url, ["build.created"])
    build = client.create_build(project)

    def failed_twice():
        log = deliveries(client, webhook)
        return log and log[0]["attempt_count"] >= 2

    wait_until(failed_twice, timeout=120, what="two failed attempts")
    receiver.start()
    try:
        wait_until(
            lambda: deliveries(client, webhook)[0]["status"] == "delivered", timeout=120, what="a delivery by a retry"
        )
    finally:
        receiver.stop()

    (delivery,) = deliveries(client, webhook)
    outcomes = [attempt["outcome"] for attempt in delivery["attempts"]]
    assert outcomes[-1] == "success" and set(outcomes[:-1]) == {"network_error"} and len(outcomes) >= 3
    (received,) = receiver.received  # once
    assert json.loads(received.body)["build"]["id"] == build["id"]
    assert json.loads(received.body)["delivery_id"] == delivery["id"]


def test_a_target_on_127_0_0_1_is_refused_recorded_and_never_connected(client, project):
    listener = TcpListener("127.0.0.1")
    try:
        webhook = subscribe(client, listener.url, ["build.created"])
        client.create_build(project)
        wait_until(
            lambda: [d["status"] for d in deliveries(client, webhook)] == ["failed"], timeout=120, what="the refusal"
        )
    finally:
        listener.close()

    (delivery,) = deliveries(client, webhook)
    (attempt,) = delivery["attempts"]
    assert (attempt["outcome"], attempt["address"], attempt["status_code"]) == ("refused", "127.0.0.1", None)
    assert "loopback" in delivery["last_error"]
    assert listener.connections == 0
