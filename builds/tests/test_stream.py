"""The live log stream end to end: real daphne, the real `websockets` client, real builds (and in
services mode a real Celery worker publishing through Redis)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

from testing import access_token_for, wait_until

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]

LEVELS = {"DEBUG", "INFO", "WARN", "ERROR"}
LOG_MESSAGE_KEYS = {"build_id", "timestamp", "level", "message", "metadata"}
ENVELOPE_KEYS = {"error", "code", "timestamp", "trace_id", "details"}
PING_INTERVAL = 5  # Stack runs daphne with --ping-interval 5 --ping-timeout 10
PING_TIMEOUT = 10


# --- a client ------------------------------------------------------------------------------------


@dataclass
class Received:
    messages: list[dict] = field(default_factory=list)
    close_code: int | None = None

    @property
    def lines(self) -> list[dict]:
        return [m for m in self.messages if "event" not in m.get("metadata", {})]

    @property
    def seqs(self) -> list[int]:
        return [int(m["metadata"]["seq"]) for m in self.lines]

    @property
    def last(self) -> dict:
        return self.messages[-1]


def headers_of(client) -> dict[str, str]:
    """Exactly the guide's websocat/Node headers."""
    return {"Authorization": f"Bearer {client.token}", "X-Tenant-ID": client.tenant_id}


def stream_url(stack, build_id: str, **params) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{stack.ws_url}/api/v1/builds/{build_id}/logs/stream{query}"


async def read_all(ws: ClientConnection, received: Received, *, until=None) -> Received:
    """Reads until the server closes (or until(message) is true); records the close code."""
    try:
        async for raw in ws:
            received.messages.append(json.loads(raw))
            if until is not None and until(received.messages[-1]):
                return received
    except ConnectionClosed:
        pass
    received.close_code = ws.close_code
    return received


async def collect(url: str, headers: dict | None = None, *, timeout: float = 120) -> Received:
    async with asyncio.timeout(timeout):
        async with connect(url, additional_headers=headers or {}, open_timeout=20) as ws:
            return await read_all(ws, Received())


def run(coroutine):
    return asyncio.run(coroutine)


# --- what every stream must satisfy -----------------------------------------------------------


def assert_log_message(message: dict, build_id: str) -> None:
    assert set(message) == LOG_MESSAGE_KEYS, message
    assert message["build_id"] == build_id
    assert datetime.fromisoformat(message["timestamp"]).tzinfo is not None, message
    assert message["level"] in LEVELS, message
    assert isinstance(message["message"], str)
    metadata = message["metadata"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()), metadata
    assert {"seq", "step"} <= set(metadata), metadata


def assert_complete_stream(received: Received, client, build_id: str, *, status: str, since: int = 0) -> list[dict]:
    """Stored lines after `since`, each once, in order, equal to GET /logs; then the end; then 1000."""
    for message in received.messages:
        assert_log_message(message, build_id)
    stored = client.log_entries(build_id)
    assert [int(e["metadata"]["seq"]) for e in stored] == list(range(1, len(stored) + 1))
    expected = [e for e in stored if int(e["metadata"]["seq"]) > since]
    assert received.seqs == [int(e["metadata"]["seq"]) for e in expected]
    for got, want in zip(received.lines, expected, strict=True):
        assert (got["level"], got["message"], got["metadata"]) == (want["level"], want["message"], want["metadata"])
        assert datetime.fromisoformat(got["timestamp"]) == datetime.fromisoformat(want["timestamp"])
    end = received.last
    assert end["level"] == "INFO" and end["message"] == f"Build finished: {status}", end
    assert end["metadata"]["event"] == "end" and end["metadata"]["status"] == status, end
    assert end["metadata"]["seq"] == str(max(since, len(stored)))
    assert len(received.messages) == len(expected) + 1
    assert received.close_code == 1000
    return stored


# --- connect before, during, after --------------------------------------------------------------


def test_connect_before_start_stays_open_then_streams_everything(stack, member_client, stream_build):
    build = stream_build("seq 1 30")

    async def scenario() -> Received:
        async with connect(stream_url(stack, build["id"]), additional_headers=headers_of(member_client)) as ws:
            pong = await ws.ping()  # open and answering while the build is queued
            await asyncio.wait_for(pong, 10)
            assert member_client.build(build["id"])["status"] == "queued"
            await asyncio.to_thread(member_client.start, build["id"])
            async with asyncio.timeout(120):
                return await read_all(ws, Received())

    received = run(scenario())

    stored = assert_complete_stream(received, member_client, build["id"], status="success")
    assert [str(n) for n in range(1, 31)] == [m for m in (e["message"] for e in stored) if m.isdigit()]


def test_connect_during_build_replays_then_continues_live(stack, member_client, stream_build):
    build = stream_build("seq 1 20; echo half-way; sleep 3; seq 21 40")
    member_client.start(build["id"])
    wait_until(lambda: "half-way" in member_client.log_messages(build["id"]), timeout=120, what="the first half")

    received = run(collect(stream_url(stack, build["id"]), headers_of(member_client)))

    stored = assert_complete_stream(received, member_client, build["id"], status="success")
    assert "40" in [e["message"] for e in stored]


def test_connect_after_the_end_replays_then_ends(stack, member_client, stream_build):
    build = stream_build("seq 1 10")
    member_client.start(build["id"])
    member_client.wait_for(build["id"])

    received = run(collect(stream_url(stack, build["id"]), headers_of(member_client)))

    assert_complete_stream(received, member_client, build["id"], status="success")


@pytest.mark.parametrize("back", [0, 1, 5, None])
def test_since_resumes_after_that_line(stack, member_client, stream_build, back):
    build = stream_build("seq 1 10")
    member_client.start(build["id"])
    member_client.wait_for(build["id"])
    total = len(member_client.log_entries(build["id"]))
    since = 3 if back is None else total - back

    received = run(collect(stream_url(stack, build["id"], since=since), headers_of(member_client)))

    assert_complete_stream(received, member_client, build["id"], status="success", since=since)


def test_query_parameter_auth_for_browsers(stack, member_client, stream_build):
    build = stream_build("seq 1 5")
    member_client.start(build["id"])
    member_client.wait_for(build["id"])
    url = stream_url(stack, build["id"], token=member_client.token, tenant_id=member_client.tenant_id)

    received = run(collect(url))

    assert_complete_stream(received, member_client, build["id"], status="success")


# --- who may connect: the HTTP rule table ---------------------------------------------------------


@pytest.fixture
def refusal_world(stack, transactional_db, make_user, make_tenant, make_project, make_build, owner, tenant, project):
    """A finished build with stored lines in `tenant`, plus everyone the rule table talks about."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from builds.logs.store import append_lines
    from builds.models import Build
    from tenants.models import Membership, Role

    build = make_build(project, status="success")
    append_lines(
        build.pk,
        [{"timestamp": build.created_at, "level": "INFO", "message": "secret line", "metadata": {"step": "build"}}],
    )
    other_tenant = make_tenant("globex", members={make_user(): "owner"})
    foreign_build = make_build(make_project(other_tenant, name="theirs"), status="success")
    blind = make_user()
    Membership.objects.create(user=blind, tenant=tenant, role=Role.objects.create(name="blind", permissions=[]))
    inactive = make_user()
    Membership.objects.create(user=inactive, tenant=tenant, role=Role.objects.get(name="owner"))
    inactive_token = access_token_for(inactive)
    type(inactive).objects.filter(pk=inactive.pk).update(is_active=False)
    assert Build.objects.filter(pk=build.pk).exists()
    return {
        "owner": access_token_for(owner),
        "refresh": str(RefreshToken.for_user(owner)),
        "inactive": inactive_token,
        "blind": access_token_for(blind),
        "outsider": access_token_for(make_user()),
        "tenant": str(tenant.pk),
        "other_tenant": str(other_tenant.pk),
        "build": str(build.pk),
        "foreign_build": str(foreign_build.pk),
    }


# (case, token, tenant, build, close code, envelope code)
REFUSALS = [
    ("no token", None, "tenant", "build", 4401, "UNAUTHORIZED"),
    ("garbage token", "not-a-jwt", "tenant", "build", 4401, "UNAUTHORIZED"),
    ("refresh token", "refresh", "tenant", "build", 4401, "UNAUTHORIZED"),
    ("inactive user", "inactive", "tenant", "build", 4401, "UNAUTHORIZED"),
    ("missing tenant", "owner", None, "build", 4400, "INVALID_REQUEST"),
    ("non-UUID tenant", "owner", "acme", "build", 4400, "INVALID_REQUEST"),
    ("nil tenant", "owner", str(uuid.UUID(int=0)), "build", 4400, "INVALID_REQUEST"),
    ("unknown tenant", "owner", str(uuid.uuid4()), "build", 4403, "FORBIDDEN"),
    ("not a member", "outsider", "tenant", "build", 4403, "FORBIDDEN"),
    ("role without build:read", "blind", "tenant", "build", 4403, "FORBIDDEN"),
    ("unknown build", "owner", "tenant", str(uuid.uuid4()), 4404, "NOT_FOUND"),
    ("other tenant's build", "owner", "tenant", "foreign_build", 4404, "NOT_FOUND"),
    ("malformed build id", "owner", "tenant", "not-a-uuid", 4400, "INVALID_REQUEST"),
]


def refuse(
    stack, world: dict, token: str | None, tenant: str | None, build: str, *, via: str, extra: dict | None = None
) -> Received:
    token = world.get(token, token) if token else None
    tenant = world.get(tenant, tenant) if tenant else None
    build = world.get(build, build)
    if via == "headers":
        headers = {
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **({"X-Tenant-ID": tenant} if tenant else {}),
        }
        return run(collect(stream_url(stack, build, **(extra or {})), headers))
    params = {**({"token": token} if token else {}), **({"tenant_id": tenant} if tenant else {}), **(extra or {})}
    return run(collect(stream_url(stack, build, **params)))


def assert_refused(received: Received, close_code: int, code: str) -> dict:
    assert len(received.messages) == 1, received.messages  # one envelope frame, no log line
    body = received.messages[0]
    assert set(body) == ENVELOPE_KEYS, body
    assert body["code"] == code and body["trace_id"], body
    assert received.close_code == close_code
    return body


@pytest.mark.parametrize("via", ["headers", "query"])
@pytest.mark.parametrize(
    ("case", "who", "tenant_id", "build_id", "close_code", "code"), REFUSALS, ids=[row[0] for row in REFUSALS]
)
def test_refusals_follow_the_http_rule_table(
    stack, refusal_world, via, case, who, tenant_id, build_id, close_code, code
):
    received = refuse(stack, refusal_world, who, tenant_id, build_id, via=via)

    body = assert_refused(received, close_code, code)
    if case == "role without build:read":
        assert body["details"] == {"permission": "build:read"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("owner", str(uuid.uuid4()), "build"), ("outsider", "tenant", "build")),
        (("owner", "tenant", str(uuid.uuid4())), ("owner", "tenant", "foreign_build")),
    ],
    ids=["unknown tenant = not a member", "unknown build = other tenant's build"],
)
def test_refusals_do_not_reveal_what_exists(stack, refusal_world, first, second):
    def body(args):
        refused = refuse(stack, refusal_world, *args, via="headers").messages[0]
        return {k: v for k, v in refused.items() if k not in ("timestamp", "trace_id")}

    assert body(first) == body(second)


def test_bad_since_is_a_bad_request_but_only_after_authentication(stack, refusal_world):
    bad = refuse(stack, refusal_world, "owner", "tenant", "build", via="headers", extra={"since": "-1"})
    anonymous = refuse(stack, refusal_world, None, "tenant", "build", via="headers", extra={"since": "-1"})

    assert assert_refused(bad, 4400, "INVALID_REQUEST")["details"] == {"since": "Must be an integer >= 0."}
    assert_refused(anonymous, 4401, "UNAUTHORIZED")


# --- fan-out, failure, cancel ---------------------------------------------------------------------


def test_hundred_concurrent_clients_each_get_every_line_once_in_order(stack, member_client, stream_build):
    build = stream_build("seq 1 40; sleep 1; seq 41 80")
    url, headers = stream_url(stack, build["id"]), headers_of(member_client)

    async def scenario() -> list[Received]:
        async with asyncio.timeout(180):
            clients = [await connect(url, additional_headers=headers, open_timeout=30) for _ in range(100)]
            try:
                await asyncio.to_thread(member_client.start, build["id"])
                return await asyncio.gather(*(read_all(ws, Received()) for ws in clients))
            finally:
                await asyncio.gather(*(ws.close() for ws in clients))

    everyone = run(scenario())

    assert len(everyone) == 100
    for received in everyone:
        assert_complete_stream(received, member_client, build["id"], status="success")


def test_failed_build_ends_with_failed(stack, member_client, stream_build):
    build = stream_build("seq 1 5; exit 3")
    url, headers = stream_url(stack, build["id"]), headers_of(member_client)

    async def scenario() -> Received:
        async with connect(url, additional_headers=headers) as ws:
            await asyncio.to_thread(member_client.start, build["id"])
            async with asyncio.timeout(120):
                return await read_all(ws, Received())

    received = run(scenario())

    assert_complete_stream(received, member_client, build["id"], status="failed")
    assert received.lines[-1]["level"] == "ERROR" and "exit code 3" in received.lines[-1]["message"]


def test_cancel_while_streaming_ends_with_cancelled(stack, member_client, stream_build):
    build = stream_build("echo sleeping-now; sleep 60")
    url, headers = stream_url(stack, build["id"]), headers_of(member_client)

    async def scenario() -> Received:
        async with connect(url, additional_headers=headers) as ws:
            await asyncio.to_thread(member_client.start, build["id"])
            async with asyncio.timeout(120):
                received = await read_all(ws, Received(), until=lambda m: m["message"] == "sleeping-now")
                response = await asyncio.to_thread(member_client.post, f"/builds/{build['id']}/cancel")
                assert response.status_code == 200, response.text
                return await read_all(ws, received)

    received = run(scenario())

    assert_complete_stream(received, member_client, build["id"], status="cancelled")
    assert "sleeping-now" in [m["message"] for m in received.lines]
    assert received.lines[-1]["message"].startswith("Build cancelled")


def test_cancel_of_a_queued_build_ends_its_stream(stack, member_client, stream_build):
    build = stream_build("seq 1 3")
    url, headers = stream_url(stack, build["id"]), headers_of(member_client)

    async def scenario() -> Received:
        async with connect(url, additional_headers=headers) as ws:
            response = await asyncio.to_thread(member_client.post, f"/builds/{build['id']}/cancel")
            assert response.status_code == 200, response.text
            async with asyncio.timeout(60):
                return await read_all(ws, Received())

    received = run(scenario())

    assert_complete_stream(received, member_client, build["id"], status="cancelled")


# --- heartbeat ------------------------------------------------------------------------------------


class CountingPings(ClientConnection):
    pings = 0

    def process_event(self, event) -> None:
        if getattr(event, "opcode", None) is Opcode.PING:
            self.pings += 1
        super().process_event(event)


def test_silent_client_is_pinged_and_stays_open(stack, member_client, stream_build):
    build = stream_build("seq 1 3")  # stays queued: nothing to send
    url, headers = stream_url(stack, build["id"]), headers_of(member_client)

    async def scenario() -> int:
        async with connect(url, additional_headers=headers, create_connection=CountingPings) as ws:
            async with asyncio.timeout(PING_INTERVAL * 3):
                while ws.pings < 2:  # two pings: more than one interval of silence, answered each time
                    await asyncio.sleep(0.2)
            assert ws.state.name == "OPEN"
            response = await asyncio.to_thread(member_client.post, f"/builds/{build['id']}/cancel")
            assert response.status_code == 200
            async with asyncio.timeout(60):
                received = await read_all(ws, Received())
            assert received.close_code == 1000
            return ws.pings

    assert run(scenario()) >= 2


def _recv_or_reset(peer: socket.socket) -> bytes:
    try:
        return peer.recv(65536)
    except ConnectionResetError:
        return b""


def test_dead_peer_that_never_answers_pings_is_dropped(stack, member_client, stream_build):
    """A raw socket: handshake, then never read pongs back: daphne pings, then drops it."""
    build = stream_build("seq 1 3")
    request = (
        f"GET /api/v1/builds/{build['id']}/logs/stream HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {member_client.token}\r\n"
        f"X-Tenant-ID: {member_client.tenant_id}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.port), timeout=PING_INTERVAL + PING_TIMEOUT + 15) as peer:
        peer.sendall(request.encode())
        data = b""
        while chunk := _recv_or_reset(peer):  # until the server drops us
            data += chunk

    head, _, frames = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    assert frames[:1] == bytes([0x80 | Opcode.PING.value]), frames[:20]  # FIN + ping, nothing else before it


# --- slow clients ---------------------------------------------------------------------------------


def test_slow_client_is_closed_with_1013_and_resumes_while_a_normal_client_gets_everything(
    stack, member_client, stream_build
):
    """The slow reader takes ~3 ms per message while the build prints 10,000 lines in ~4 s."""
    build = stream_build("for round in $(seq 1 20); do seq 1 500; usleep 200000; done")
    url, headers = stream_url(stack, build["id"]), headers_of(member_client)

    async def read_slowly(ws: ClientConnection) -> Received:
        received = Received()
        try:
            async for raw in ws:
                received.messages.append(json.loads(raw))
                await asyncio.sleep(0.003)  # the client's own reading pace, not a wait for the server
        except ConnectionClosed:
            pass
        received.close_code = ws.close_code
        return received

    async def scenario() -> tuple[Received, Received]:
        small = socket.create_connection(("127.0.0.1", stack.port))
        small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # no megabytes hidden on our side
        async with asyncio.timeout(180):
            async with (
                connect(url, additional_headers=headers) as fast,
                connect(url, additional_headers=headers, sock=small) as slow,
            ):
                await asyncio.to_thread(member_client.start, build["id"])
                return await asyncio.gather(read_all(fast, Received()), read_slowly(slow))

    fast, slow = run(scenario())

    stored = assert_complete_stream(fast, member_client, build["id"], status="success")
    assert len(stored) > 10_000
    lagged = slow.last
    assert lagged["level"] == "WARN" and lagged["metadata"]["event"] == "lagged", lagged
    assert slow.close_code == 1013
    last_seen = int(lagged["metadata"]["seq"])
    assert slow.seqs == list(range(1, last_seen + 1))  # everything up to there, once, in order
    assert last_seen < len(stored)

    resumed = run(collect(stream_url(stack, build["id"], since=last_seen), headers))

    assert_complete_stream(resumed, member_client, build["id"], status="success", since=last_seen)


# --- the plain-text log download, streamed by daphne ---------------------------------------------

# Served a sync iterator under ASGI, Django warns and reads it into memory whole before sending. daphne
# (at its default verbosity) routes Python warnings into Twisted's discarded log, so this daphne turns
# exactly that warning into an error: the download then breaks and the traceback is in daphne's log.
SYNC_ITERATOR_WARNING = "StreamingHttpResponse must consume synchronous iterators"


@pytest.fixture
def strict_stack(transactional_db, tmp_path):
    """A daphne of its own on the test database, where Django's sync-iterator warning is an error."""
    from testing import Stack

    strict = Stack(tmp_path / "strict", extra_env={"PYTHONWARNINGS": f"error:{SYNC_ITERATOR_WARNING}"})
    strict.start_server()
    yield strict
    strict.stop()


def test_text_log_download_is_streamed_by_daphne_line_by_line(strict_stack, owner, tenant, project, make_build):
    """Several fetch chunks of lines arrive complete and in order, from an async iterator: daphne
    streams them as they are read instead of Django reading the whole log into memory first."""
    from datetime import timedelta

    from django.utils import timezone

    from builds.logs.store import append_lines
    from testing import StackClient

    build = make_build(project, status="failed")
    start = timezone.now()
    append_lines(
        build.pk,
        [
            {
                "timestamp": start + timedelta(milliseconds=n),
                "level": "ERROR" if n % 1000 == 0 else "INFO",
                "message": f"line {n} of the download",
                "metadata": {"step": "build"},
            }
            for n in range(1, 4502)
        ],
    )
    client = StackClient(strict_stack, owner, tenant)

    try:
        with client.get(f"/builds/{build.pk}/logs?format=text", stream=True) as response:
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"].startswith("text/plain")
            lines = [line.decode() for line in response.iter_lines(chunk_size=8192)]
    except requests.RequestException as exc:
        pytest.fail(f"the download broke off: {exc}\n{strict_stack.logs()}")

    assert len(lines) == 4501, strict_stack.logs()
    for n, line in enumerate(lines, start=1):
        level = "ERROR" if n % 1000 == 0 else "INFO "
        assert line.endswith(f" {level} line {n} of the download"), (n, line)
    assert SYNC_ITERATOR_WARNING not in strict_stack.logs()
