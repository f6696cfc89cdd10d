"""Live log latency: from the worker emitting a line to WebSocket clients receiving it, beside the
floor (a raw Redis PUBLISH -> SUBSCRIBE round trip, same clients, same machine, same run), and the
time from POST /start to the first line on the stream.

A script run by hand, not a test. It starts what it needs (testing.Stack: daphne, and in
services mode a Celery worker), a fresh database, a member, a tenant and a project on a local git
repository whose Dockerfile is FROM scratch + busybox + one RUN step printing --lines lines in bursts
of --burst every --pause seconds (a fresh token per run, so the layer cache never answers).

All clients run in this one asyncio process (so the measurement does not drown the server in
client processes) and connect before the build starts, so every line reaches them live. A line's
latency is the client's wall clock when the frame arrives minus the LogMessage `timestamp`, which
the worker stamps when it reads the line from buildah's output (builds/logs/sink.py). Same machine,
same clock. It includes the sink's publisher thread, the channel layer (in-memory, or Redis across
processes), the consumer, daphne and the client. Every client must get every line once, in order
(checked; a run that breaks it says so).

start -> first line: from sending POST /builds/{id}/start to the first log line on the stream (the
scheduler's claim, the worker picking the task up in services mode, the sink's first line).

Usage (from the repository root; the var dir keeps its database and workspaces apart):

    # embedded mode (one daphne process, in-memory channel layer, SQLite)
    IMAGEFACTORY_VAR_DIR=/tmp/if-bench .venv/bin/python benchmarks/stream_latency.py
    # services mode (daphne + Celery worker, Redis channel layer, PostgreSQL)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/if_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        IMAGEFACTORY_VAR_DIR=/tmp/if-bench .venv/bin/python benchmarks/stream_latency.py --clients 100

Options: --lines 1000 --burst 100 --pause 0.1 --clients 1 --runs 3. The floor needs Redis
(REDIS_URL, or --floor-redis in embedded mode). It prints each run, then min/median/max over runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from _bootstrap import setup_database


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def listen(
    url: str, headers: dict[str, str], connected: list, first_line: list[float], handshakes: asyncio.Semaphore
) -> tuple[list, list]:
    """(latencies in seconds, seqs) of every log line this client receives, until the end message."""
    from websockets.asyncio.client import connect

    latencies, seqs = [], []
    await handshakes.acquire()  # a few at a time: a hundred at once overrun daphne's handshake timeout
    try:
        opening = connect(url, additional_headers=headers, open_timeout=120, max_queue=None)
        ws = await opening
    finally:
        handshakes.release()
    async with ws:
        connected.append(ws)
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            if message["metadata"].get("event") == "end":
                if message["metadata"]["status"] != "success":
                    raise SystemExit(f"build ended {message['metadata']['status']}")
                break
            if not first_line:
                first_line.append(received)
            latencies.append(received - datetime.fromisoformat(message["timestamp"]).timestamp())
            seqs.append(int(message["metadata"]["seq"]))
    return latencies, seqs


async def stream_run(stack, client, build_id: str, clients: int) -> dict:
    url = f"{stack.ws_url}/api/v1/builds/{build_id}/logs/stream"
    headers = {"Authorization": f"Bearer {client.token}", "X-Tenant-ID": client.tenant_id}
    connected: list = []
    first_line: list[float] = []
    handshakes = asyncio.Semaphore(4)
    tasks = [asyncio.create_task(listen(url, headers, connected, first_line, handshakes)) for _ in range(clients)]
    while len(connected) < clients:
        await asyncio.sleep(0.05)
        for task in tasks:
            if task.done():
                task.result()  # a client that failed to connect raises here
    started = time.time()
    await asyncio.to_thread(client.start, build_id)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 900)
    everyone = [seqs for _, seqs in results]
    complete = all(seqs == everyone[0] and seqs == sorted(set(seqs)) for seqs in everyone)
    return {
        "ms": [1000 * latency for latencies, _ in results for latency in latencies],
        "lines": len(everyone[0]),
        "complete": complete,
        "start_ms": 1000 * (first_line[0] - started),
    }


async def floor_run(redis_url: str, clients: int, lines: int, burst: int, pause: float) -> list[float]:
    """The same bursts as JSON LogMessage-sized payloads, PUBLISHed to `clients` SUBSCRIBErs."""
    import redis.asyncio as redis

    channel = f"floor-{uuid.uuid4().hex}"
    latencies: list[float] = []
    ready = 0

    async def subscriber() -> None:
        nonlocal ready
        connection = redis.Redis.from_url(redis_url)
        async with connection.pubsub() as pubsub:
            await pubsub.subscribe(channel)
            ready += 1
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                received = time.time()
                payload = json.loads(message["data"])
                if payload.get("end"):
                    break
                latencies.append(1000 * (received - payload["timestamp"]))
        await connection.aclose()

    tasks = [asyncio.create_task(subscriber()) for _ in range(clients)]
    while ready < clients:
        await asyncio.sleep(0.01)
        for task in tasks:
            if task.done():
                task.result()  # a subscriber that failed to connect raises here
    publisher = redis.Redis.from_url(redis_url)
    padding = "x" * 200  # about a LogMessage's size
    for _ in range(max(1, lines // burst)):
        for n in range(burst):
            await publisher.publish(channel, json.dumps({"timestamp": time.time(), "n": n, "padding": padding}))
        await asyncio.sleep(pause)
    await publisher.publish(channel, json.dumps({"end": True}))
    await asyncio.gather(*tasks)
    await publisher.aclose()
    return latencies


def summary(name: str, values: list[float]) -> str:
    return f"{name:<28} min {min(values):8.1f}   median {statistics.median(values):8.1f}   max {max(values):8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=100, help="lines printed at once")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between bursts")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--floor-redis", default=os.environ.get("REDIS_URL"), help="Redis for the floor")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stream-latency-"))
    user, tenant = setup_database()

    from builds.models import Project
    from testing import GitRepo, Stack, StackClient, run_step, unique_token

    stack = Stack(workdir / "stack").start()
    rows: dict[str, list[float]] = {k: [] for k in ("p50", "p99", "max", "start", "floor p50", "floor p99")}
    try:
        repo = GitRepo(workdir / "repo")
        project = Project.objects.create(tenant=tenant, name="bench", repository_url=repo.url)
        client = StackClient(stack, user, tenant)
        rounds = max(1, args.lines // args.burst)
        mode = "services (Celery worker, Redis layer)" if stack.services else "embedded (in-memory layer)"
        print(
            f"mode: {mode}; {args.clients} client(s) in one process; {rounds} bursts of {args.burst} lines, "
            f"{args.pause} s apart; {args.runs} runs"
        )
        for run in range(1, args.runs + 1):
            commit = repo.commit_dockerfile(
                run_step(
                    f"echo {unique_token()}; for r in $(seq 1 {rounds}); do seq 1 {args.burst}; "
                    f"usleep {int(args.pause * 1e6)}; done"
                )
            )
            build = client.create_build(project, git_commit=commit)
            result = asyncio.run(stream_run(stack, client, build["id"], args.clients))
            ms = result["ms"]
            rows["p50"].append(percentile(ms, 0.5))
            rows["p99"].append(percentile(ms, 0.99))
            rows["max"].append(max(ms))
            rows["start"].append(result["start_ms"])
            line = (
                f"run {run}: stream p50 {rows['p50'][-1]:.1f} ms  p99 {rows['p99'][-1]:.1f} ms  "
                f"max {rows['max'][-1]:.1f} ms  ({result['lines']} lines x {args.clients}; every line once, "
                f"in order: {'yes' if result['complete'] else 'NO'})  start -> first line {result['start_ms']:.0f} ms"
            )
            if args.floor_redis:
                floor = asyncio.run(floor_run(args.floor_redis, args.clients, args.lines, args.burst, args.pause))
                rows["floor p50"].append(percentile(floor, 0.5))
                rows["floor p99"].append(percentile(floor, 0.99))
                line += f"   floor p50 {rows['floor p50'][-1]:.1f} ms  p99 {rows['floor p99'][-1]:.1f} ms"
            print(line, flush=True)
        print(f"over {args.runs} runs (ms):")
        for name, values in rows.items():
            if values:
                print(summary(name, values))
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
