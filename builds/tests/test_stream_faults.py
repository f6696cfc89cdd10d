"""The live log stream when Redis goes away and comes back (services mode: the channel layer, the
cache and Celery's broker are all Redis). A redis-server of the test's own, so the shared one stays up."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from builds.tests.test_stream import ENVELOPE_KEYS, Received, assert_log_message, headers_of, read_all, stream_url
from testing import RedisServer, Stack, StackClient, need, need_services, run_step, unique_token

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


@pytest.fixture
def redis_server(tmp_path):
    need_services()
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_stack(redis_server, tmp_path, transactional_db):
    need(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")
    running = Stack(tmp_path / "stack", redis_url=redis_server.url(0)).start()
    yield running
    running.stop()


async def refusal(url: str, headers: dict) -> tuple[list[dict], int | None]:
    async with asyncio.timeout(60):
        async with connect(url, additional_headers=headers, open_timeout=30) as ws:
            frames = []
            try:
                async for raw in ws:
                    frames.append(json.loads(raw))
            except ConnectionClosed:
                pass
            return frames, ws.close_code


def test_redis_restart_while_streaming_then_resume_with_since_gets_every_line_once(
    redis_server, redis_stack, owner, tenant, make_project, git_repo
):
    client = StackClient(redis_stack, owner, tenant)
    project = make_project(tenant, name=f"faults-{unique_token()}", repository_url=git_repo.url)
    commit = git_repo.commit_dockerfile(
        run_step(f"echo run-{unique_token()}; for i in $(seq 1 60); do echo line-$i; usleep 250000; done")
    )
    build = client.create_build(project, git_commit=commit)
    headers = headers_of(client)

    async def first_session() -> Received:
        async with connect(stream_url(redis_stack, build["id"]), additional_headers=headers, open_timeout=30) as ws:
            await asyncio.to_thread(client.start, build["id"])
            async with asyncio.timeout(180):
                received = await read_all(ws, Received(), until=lambda m: m["message"] == "line-5")
                await asyncio.to_thread(redis_server.stop)  # Redis goes away mid-stream
                return await read_all(ws, received)

    first = asyncio.run(first_session())

    # The stream that lost its channel layer says so, readably: one envelope, then 1013.
    assert first.close_code == 1013, first.messages[-3:]
    assert set(first.last) == ENVELOPE_KEYS and first.last["code"] == "SERVICE_UNAVAILABLE", first.last
    lines = first.messages[:-1]
    for message in lines:
        assert_log_message(message, build["id"])
    since = int(lines[-1]["metadata"]["seq"])

    # While Redis is down a reconnect is refused the same way (not an HTTP 500 at the handshake).
    frames, code = asyncio.run(refusal(stream_url(redis_stack, build["id"], since=since), headers))
    assert code == 1013 and len(frames) == 1, frames
    assert set(frames[0]) == ENVELOPE_KEYS and frames[0]["code"] == "SERVICE_UNAVAILABLE", frames

    redis_server.start()  # back, empty (no persistence): groups and queues are gone
    client.wait_for(build["id"], "success", timeout=300)

    async def second_session() -> Received:
        async with asyncio.timeout(120):
            url = stream_url(redis_stack, build["id"], since=since)
            async with connect(url, additional_headers=headers, open_timeout=30) as ws:
                return await read_all(ws, Received())

    second = asyncio.run(second_session())

    assert second.close_code == 1000 and second.last["metadata"]["event"] == "end", second.messages[-2:]
    stored = client.log_entries(build["id"])
    seqs = [int(m["metadata"]["seq"]) for m in lines] + second.seqs
    assert seqs == [int(e["metadata"]["seq"]) for e in stored]  # every line exactly once, in order
    messages = [m["message"] for m in lines] + [m["message"] for m in second.lines]
    assert [f"line-{i}" for i in range(1, 61)] == [m for m in messages if m.startswith("line-")]
