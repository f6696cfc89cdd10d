"""BuildLogStreamConsumer at unit level: Channels' WebsocketCommunicator on the in-memory layer.

The seams the end-to-end tests cannot aim at: a line committed while the replay reads the
database, a seq gap in the live feed, the end event overtaking lines, a client that lags.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, transaction
from django.utils import timezone

from builds import selectors
from builds.logs import publish
from builds.logs.messages import line_message
from builds.logs.store import append_lines
from builds.models import Build, BuildLogLine
from builds.services import builds as build_services
from builds.stream.consumer import BuildLogStreamConsumer
from builds.stream.routing import websocket_urlpatterns
from builds.stream.transport import DaphneSendBuffer
from testing import access_token_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stream(settings, transactional_db, owner, tenant, project, make_build):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }
    settings.STREAM_STATUS_POLL_SECONDS = 600  # in these tests the end comes from the end event
    # queued, not in_progress: the session's e2e server would otherwise dispatch it to its workers
    build = make_build(project, status="queued")
    headers = [
        (b"authorization", f"Bearer {access_token_for(owner)}".encode()),
        (b"x-tenant-id", str(tenant.pk).encode()),
    ]

    def communicator(query: str = "") -> WebsocketCommunicator:
        return WebsocketCommunicator(
            URLRouter(websocket_urlpatterns), f"/api/v1/builds/{build.pk}/logs/stream{query}", headers=headers
        )

    return SimpleNamespace(build=build, communicator=communicator)


def entries(first: int, last: int) -> list[dict]:
    now = timezone.now()
    return [
        {
            "timestamp": now + timedelta(microseconds=n),
            "level": "INFO",
            "message": f"line {n}",
            "metadata": {"step": "build"},
        }
        for n in range(first, last + 1)
    ]


def store(build: Build, first: int, last: int, *, publish: bool = True) -> None:
    """Stores lines first..last through the log store (which publishes them after commit)."""
    if publish:
        lines = append_lines(build.pk, entries(first, last))
    else:
        with mock.patch("builds.logs.publish.publish_lines"):
            lines = append_lines(build.pk, entries(first, last))
    assert [line.seq for line in lines] == list(range(first, last + 1))


def stored_payloads(build: Build, first: int, last: int) -> list[dict]:
    return [
        line_message(line)
        for line in BuildLogLine.objects.filter(build=build, seq__gte=first, seq__lte=last).order_by("seq")
    ]


def finish(build: Build, status: str = "success") -> None:
    Build.objects.filter(pk=build.pk).update(status=status, completed_at=timezone.now())
    publish.publish_finished(build.pk, status)


async def receive_lines(communicator: WebsocketCommunicator, count: int) -> list[dict]:
    return [json.loads((await communicator.receive_output(5))["text"]) for _ in range(count)]


async def receive_to_close(communicator: WebsocketCommunicator) -> tuple[list[dict], int]:
    messages = []
    while True:
        output = await communicator.receive_output(5)
        if output["type"] == "websocket.close":
            return messages, output.get("code")
        messages.append(json.loads(output["text"]))


def seqs(messages: list[dict]) -> list[int]:
    return [int(m["metadata"]["seq"]) for m in messages if "event" not in m["metadata"]]


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.mark.parametrize("committed", ["before the replay read", "after the replay read"])
def test_lines_committed_during_the_replay_are_neither_lost_nor_duplicated(stream, committed):
    store(stream.build, 1, 5)
    original, calls = selectors.log_lines_after, []

    def racing_read(build_id, *, after_seq: int, limit: int):
        calls.append(after_seq)
        if len(calls) == 1 and committed == "before the replay read":
            store(stream.build, 6, 8)  # published live too: the live copy must be dropped
        lines = original(build_id, after_seq=after_seq, limit=limit)
        if len(calls) == 1 and committed == "after the replay read":
            store(stream.build, 6, 8)  # only live: must not be lost
        return lines

    async def scenario():
        communicator = stream.communicator()
        with mock.patch("builds.selectors.log_lines_after", racing_read):
            assert (await communicator.connect())[0]
            first = await receive_lines(communicator, 8)
            layer = get_channel_layer()  # an overlapping batch arriving late, e.g. a publisher retry
            await layer.group_send(
                publish.group_name(stream.build.pk),
                {"type": "log.lines", "lines": await database_sync_to_async(stored_payloads)(stream.build, 3, 8)},
            )
            await database_sync_to_async(store)(stream.build, 9, 10)
            await database_sync_to_async(finish)(stream.build)
            rest, code = await receive_to_close(communicator)
        return first + rest, code

    messages, code = run(scenario())

    assert seqs(messages) == list(range(1, 11))
    assert messages[-1]["metadata"] == {"event": "end", "status": "success", "seq": "10", "step": "system"}
    assert code == 1000
    assert calls[0] == 0


def test_a_gap_in_live_seqs_is_filled_from_the_database(stream):
    async def scenario():
        communicator = stream.communicator()
        assert (await communicator.connect())[0]
        await database_sync_to_async(store)(stream.build, 1, 3)
        first = await receive_lines(communicator, 3)
        await database_sync_to_async(store)(stream.build, 4, 6, publish=False)  # lost on the way
        await database_sync_to_async(store)(stream.build, 7, 8)
        second = await receive_lines(communicator, 5)
        await database_sync_to_async(finish)(stream.build, "failed")
        rest, code = await receive_to_close(communicator)
        return first + second + rest, code

    messages, code = run(scenario())

    assert seqs(messages) == list(range(1, 9))
    assert [m["message"] for m in messages[:8]] == [f"line {n}" for n in range(1, 9)]
    assert messages[-1]["message"] == "Build finished: failed" and code == 1000


def test_the_end_event_never_overtakes_lines(stream):
    """The end is published after the last commit; lines whose live copy is late are read first."""

    async def scenario():
        communicator = stream.communicator()
        assert (await communicator.connect())[0]
        await database_sync_to_async(store)(stream.build, 1, 2)
        await database_sync_to_async(store)(stream.build, 3, 6, publish=False)
        await database_sync_to_async(finish)(stream.build, "cancelled")
        return await receive_to_close(communicator)

    messages, code = run(scenario())

    assert seqs(messages) == list(range(1, 7))
    assert messages[-1]["message"] == "Build finished: cancelled"
    assert messages[-1]["metadata"]["seq"] == "6" and code == 1000


def test_since_replays_only_later_lines_of_a_finished_build(stream):
    store(stream.build, 1, 7)
    Build.objects.filter(pk=stream.build.pk).update(status="success", completed_at=timezone.now())

    async def scenario():
        communicator = stream.communicator("?since=4")
        assert (await communicator.connect())[0]
        return await receive_to_close(communicator)

    messages, code = run(scenario())

    assert seqs(messages) == [5, 6, 7] and messages[-1]["metadata"]["event"] == "end" and code == 1000


class Backlog:
    """Stands in for daphne's send buffer of the client."""

    def __init__(self):
        self.size = 0

    def __call__(self, socket: DaphneSendBuffer) -> int:
        return self.size


@pytest.fixture
def backlog(settings):
    settings.STREAM_MAX_LAG_LINES = 10
    settings.STREAM_SEND_BUFFER_BYTES = 1000
    settings.STREAM_DRAIN_POLL_SECONDS = 0.01
    fake = Backlog()
    with mock.patch.object(DaphneSendBuffer, "backlog_bytes", lambda socket: fake(socket)):
        yield fake


def test_a_client_too_far_behind_is_closed_with_1013(stream, backlog):
    async def scenario():
        communicator = stream.communicator()
        assert (await communicator.connect())[0]
        await database_sync_to_async(store)(stream.build, 1, 2)
        first = await receive_lines(communicator, 2)
        backlog.size = 10_000  # the client stopped reading
        await database_sync_to_async(store)(stream.build, 3, 13)  # 11 lines it cannot be given
        rest, code = await receive_to_close(communicator)
        return first + rest, code

    messages, code = run(scenario())

    assert seqs(messages) == [1, 2]
    assert messages[-1]["level"] == "WARN" and messages[-1]["metadata"]["event"] == "lagged"
    assert messages[-1]["metadata"]["seq"] == "2" and "?since=2" in messages[-1]["message"]
    assert code == 1013


def test_a_client_that_catches_up_in_time_gets_everything(stream, backlog):
    async def scenario():
        communicator = stream.communicator()
        assert (await communicator.connect())[0]
        backlog.size = 10_000
        await database_sync_to_async(store)(stream.build, 1, 10)  # 10 behind: at the limit, not over
        assert await communicator.receive_nothing(0.3)  # held back while the buffer is full
        backlog.size = 0
        first = await receive_lines(communicator, 10)
        await database_sync_to_async(finish)(stream.build)
        rest, code = await receive_to_close(communicator)
        return first + rest, code

    messages, code = run(scenario())

    assert seqs(messages) == list(range(1, 11)) and code == 1000


def test_the_initial_replay_is_paced_not_limited(stream, backlog):
    """History the client asked for (30 lines, limit 10; 15 more arrive meanwhile) is sent as it reads."""
    store(stream.build, 1, 30)
    backlog.size = 10_000

    async def scenario():
        communicator = stream.communicator()
        assert (await communicator.connect())[0]
        await database_sync_to_async(store)(stream.build, 31, 45)
        assert await communicator.receive_nothing(0.3)
        backlog.size = 0
        first = await receive_lines(communicator, 45)
        await database_sync_to_async(finish)(stream.build)
        rest, code = await receive_to_close(communicator)
        return first + rest, code

    messages, code = run(scenario())

    assert seqs(messages) == list(range(1, 46)) and code == 1000


# --- the status poller: the end (or the deletion) when no event says so -------------------------


def test_a_build_deleted_while_connected_gets_one_not_found_frame_and_4404(stream, settings):
    settings.STREAM_STATUS_POLL_SECONDS = 0.05
    store(stream.build, 1, 3)

    def delete_build():
        with transaction.atomic():
            build_services.delete_build(build=Build.objects.get(pk=stream.build.pk))

    async def scenario():
        communicator = stream.communicator()
        assert (await communicator.connect())[0]
        first = await receive_lines(communicator, 3)
        await database_sync_to_async(delete_build)()
        rest, code = await receive_to_close(communicator)
        return first, rest, code

    first, rest, code = run(scenario())

    assert seqs(first) == [1, 2, 3]
    assert len(rest) == 1, rest
    assert set(rest[0]) == {"error", "code", "timestamp", "trace_id", "details"}
    assert rest[0]["code"] == "NOT_FOUND" and rest[0]["error"] == "Build was deleted"
    assert code == 4404
    assert not Build.objects.filter(pk=stream.build.pk).exists()


def test_a_failing_status_read_does_not_stop_the_poller(stream, settings, caplog):
    """The end event is lost and the first status read fails: the next reads still end the stream."""
    settings.STREAM_STATUS_POLL_SECONDS = 0.05
    store(stream.build, 1, 2)
    read_status, reads = inspect.getattr_static(BuildLogStreamConsumer, "_build_state"), []

    async def flaky_read(consumer):
        reads.append(consumer.build_id)
        if len(reads) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return await read_status(consumer)

    async def scenario():
        communicator = stream.communicator()
        with mock.patch.object(BuildLogStreamConsumer, "_build_state", flaky_read):
            assert (await communicator.connect())[0]
            first = await receive_lines(communicator, 2)
            async with asyncio.timeout(10):
                while len(reads) < 2:  # polled again after the failure
                    await asyncio.sleep(0.01)
            # terminal, but no end event published: only the poller can end the stream
            await database_sync_to_async(Build.objects.filter(pk=stream.build.pk).update)(
                status="success", completed_at=timezone.now()
            )
            rest, code = await receive_to_close(communicator)
        return first + rest, code

    messages, code = run(scenario())

    assert seqs(messages) == [1, 2]
    assert messages[-1]["metadata"] == {"event": "end", "status": "success", "seq": "2", "step": "system"}
    assert code == 1000
    assert "reading its status failed" in caplog.text and "server closed the connection" in caplog.text
