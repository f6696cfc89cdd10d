"""Live log latency: from the worker emitting a line to a WebSocket client receiving it.

A script run by hand, not a test. It starts what it needs (testing.Stack: daphne, and in
services mode a Celery worker), a fresh database, a member, a tenant and a project on a local git
repository whose Dockerfile is FROM scratch + busybox + one RUN step printing --lines lines in bursts
of --burst every --pause seconds (a fresh token per run, so the layer cache never answers).

The clients connect before the build starts, so every line reaches them live. A line's latency is
the client's wall clock when the frame arrives minus the LogMessage `timestamp`, which the worker
stamps when it reads the line from buildah's output (builds/logs/sink.py). Same machine, same clock. It
includes the sink's batching (BUILD_LOG_FLUSH_SECONDS, 50 ms), the INSERT and commit, the channel
layer (in-memory, or Redis across processes), the consumer, daphne and the client.

Usage (from the repository root; the var dir keeps its database and workspaces apart):

    # embedded mode (one daphne process, in-memory channel layer, SQLite)
    IMAGEFACTORY_VAR_DIR=/tmp/if-bench .venv/bin/python benchmarks/stream_latency.py
    # services mode (daphne + Celery worker, Redis channel layer, PostgreSQL)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/if_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        IMAGEFACTORY_VAR_DIR=/tmp/if-bench .venv/bin/python benchmarks/stream_latency.py

Options: --lines 2000 --burst 100 --pause 0.1 --clients 1 (100 clients: the fan-out cost).
It prints p50, p90, p99 and max over all lines and clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _bootstrap import setup_database


async def listen(url: str, headers: dict[str, str], ready: asyncio.Event, count: list[int]) -> list[float]:
    """Latencies (seconds) of every log line this client receives, until the end message."""
    from websockets.asyncio.client import connect

    latencies = []
    async with connect(url, additional_headers=headers, open_timeout=60, max_queue=None) as ws:
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            if message["metadata"].get("event") == "end":
                if message["metadata"]["status"] != "success":
                    raise SystemExit(f"build ended {message['metadata']['status']}")
                break
            emitted = datetime.fromisoformat(message["timestamp"]).timestamp()
            latencies.append(received - emitted)
    return latencies


async def measure(stack, client, build_id: str, clients: int) -> list[list[float]]:
    url = f"{stack.ws_url}/api/v1/builds/{build_id}/logs/stream"
    headers = {"Authorization": f"Bearer {client.token}", "X-Tenant-ID": client.tenant_id}
    ready, count = asyncio.Event(), [0, clients]
    tasks = [asyncio.create_task(listen(url, headers, ready, count)) for _ in range(clients)]
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.to_thread(client.start, build_id)
    return await asyncio.wait_for(asyncio.gather(*tasks), 600)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=100, help="lines printed at once")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between bursts")
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stream-latency-"))
    user, tenant = setup_database()

    from builds.models import Project
    from testing import GitRepo, Stack, StackClient, run_step, unique_token

    stack = Stack(workdir / "stack").start()
    try:
        repo = GitRepo(workdir / "repo")
        project = Project.objects.create(tenant=tenant, name="bench", repository_url=repo.url)
        client = StackClient(stack, user, tenant)
        rounds = max(1, args.lines // args.burst)
        commit = repo.commit_dockerfile(
            run_step(
                f"echo {unique_token()}; for r in $(seq 1 {rounds}); do seq 1 {args.burst}; "
                f"usleep {int(args.pause * 1e6)}; done"
            )
        )
        build = client.create_build(project, git_commit=commit)
        per_client = asyncio.run(measure(stack, client, build["id"], args.clients))
        everything = [latency for latencies in per_client for latency in latencies]
        mode = "services (Celery worker, Redis layer)" if stack.services else "embedded (in-memory layer)"
        print(
            f"mode: {mode}; {args.clients} client(s); {len(everything) // args.clients} lines each "
            f"({rounds} bursts of {args.burst}, {args.pause} s apart)"
        )
        ms = [1000 * latency for latency in everything]
        print(
            f"latency emit -> client receive: p50 {percentile(ms, 0.5):.1f} ms   p90 {percentile(ms, 0.9):.1f} ms"
            f"   p99 {percentile(ms, 0.99):.1f} ms   max {max(ms):.1f} ms   mean {statistics.mean(ms):.1f} ms"
            f"   (n={len(ms)})"
        )
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
