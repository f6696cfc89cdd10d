"""Builds per minute with 1, 2 and 4 worker processes: a batch of small builds started at once.

A script run by hand, not a test. It starts everything it needs: a real docker-registry on a free
loopback port, a fresh database, a user, a tenant and a project on a local git repository whose
Dockerfile is FROM scratch + busybox + one RUN step, and for each worker count N a testing.Stack:
daphne plus one Celery worker with N pool processes (services mode, REDIS_URL and a PostgreSQL
DATABASE_URL), or daphne alone with BUILD_WORKERS=N threads (embedded mode). The tenant may run N
builds at once (max_running_builds), so the workers, not the tenant's limit, bound the throughput.
With --tenants T the batch is spread round robin over T tenants (a project each, same repository):
each tenant has its own layer storage, so their builds do not share buildah's storage locks.

Each round commits --builds branches, each with its own RUN line (a fresh token), so no build gets
its RUN layer from the cache (FROM and COPY are cached, as for any real repeated build; one warm-up
build per stack fills that cache). It creates them all, then starts them all through the API
(POST /builds, then POST /builds/{id}/start for each), and waits until every one has ended; every
build must end `success`. A round's throughput is builds / (first started_at → last completed_at),
from the builds' own timestamps. Per N it also gives the median queue wait (started_at →
slot_acquired_at) and the median build duration (slot_acquired_at → completed_at) over all rounds.

Usage (from the repository root; the var dir keeps its workspaces apart):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/if_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        IMAGEFACTORY_VAR_DIR=/tmp/if-bench .venv/bin/python benchmarks/build_throughput.py \\
        --builds 8 --rounds 3 --workers 1,2,4 [--tenants 4]

It prints each round, then per N: builds/minute min, median and max over rounds, the median queue
wait and the median build duration. On a host with fewer cores than N, N workers share the cores:
expect the duration of each build to grow and builds/minute to stop growing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _bootstrap import setup_database

TERMINAL = ("success", "failed", "cancelled")


def worker_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers, e.g. 1,2,4")
    return counts


def start_stack(workdir: Path, workers: int):
    """daphne and `workers` build processes: Celery pool processes, or embedded pool threads."""
    from testing import Stack

    stack = Stack(workdir, extra_env={"BUILD_WORKERS": str(workers)})
    stack.start_server()
    if stack.services:
        stack.start_worker(concurrency=workers)
    return stack


def commit_branches(repo, prefix: str, count: int) -> list[str]:
    """`count` branches, each one commit with its own RUN line: no build hits another's RUN layer."""
    from testing import run_step, unique_token

    branches = []
    for n in range(count):
        branch = f"{prefix}-{n}"
        repo.git("checkout", "--quiet", "-b", branch, "main")
        repo.commit_dockerfile(run_step(f"echo {branch}-{unique_token()}"))
        branches.append(branch)
    repo.git("checkout", "--quiet", "main")
    return branches


def wait_until_ended(build_ids: list[str], timeout: float) -> list:
    """The Build rows once all have ended (read from the database: no load on daphne while it waits)."""
    from builds.models import Build

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(Build.objects.filter(pk__in=build_ids))
        if len(rows) == len(build_ids) and all(row.status in TERMINAL for row in rows):
            return rows
        time.sleep(0.2)
    stuck = [f"#{row.build_number} at {row.step_name!r}" for row in rows if row.status not in TERMINAL]
    # Seen with buildah 1.28: concurrent `bud --userns auto` on one layer storage can deadlock.
    raise SystemExit(f"builds still running after {timeout:.0f} s: {', '.join(stuck)}")


def batch(clients: list, projects: list, branches: list[str], timeout: float) -> dict:
    """Creates a build per branch (round robin over the tenants' projects), starts them all, waits
    for the end: the round's figures."""
    builds = []
    for n, branch in enumerate(branches):
        client = clients[n % len(clients)]
        builds.append((client, client.create_build(projects[n % len(projects)], git_branch=branch)))
    for client, build in builds:
        client.start(build["id"])
    rows = wait_until_ended([build["id"] for _, build in builds], timeout)
    failed = [row for row in rows if row.status != "success"]
    if failed:
        client_of = {build["id"]: client for client, build in builds}
        for row in failed:
            print(f"build #{row.build_number} ended {row.status}: {row.error_message}", file=sys.stderr)
            print("  " + "\n  ".join(client_of[str(row.pk)].log_messages(str(row.pk))[-10:]), file=sys.stderr)
        raise SystemExit(f"{len(failed)} of {len(rows)} builds did not succeed")
    first_start = min(row.started_at for row in rows)
    last_end = max(row.completed_at for row in rows)
    span = (last_end - first_start).total_seconds()
    return {
        "per_minute": 60 * len(rows) / span,
        "span": span,
        "waits": [(row.slot_acquired_at - row.started_at).total_seconds() for row in rows],
        "durations": [(row.completed_at - row.slot_acquired_at).total_seconds() for row in rows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=8, help="builds started at once per round")
    parser.add_argument("--rounds", type=int, default=3, help="batches per worker count")
    parser.add_argument("--workers", type=worker_counts, default=[1, 2, 4], help="worker counts, e.g. 1,2,4")
    parser.add_argument("--tenants", type=int, default=1, help="tenants the batch is spread over")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a batch may take")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="build-throughput-"))
    user, first_tenant = setup_database()

    from builds.models import Project
    from tenants.models import Membership, Role, Tenant
    from testing import GitRepo, Registry, StackClient, run_step

    tenants = [first_tenant] + [
        Tenant.objects.create(name=f"{first_tenant.slug}-{n}", slug=f"{first_tenant.slug}-{n}")
        for n in range(1, args.tenants)
    ]
    for tenant in tenants[1:]:
        Membership.objects.create(user=user, tenant=tenant, role=Role.objects.get(name="owner"))

    registry = Registry(workdir / "registry")
    results: dict[int, list[dict]] = {}
    try:
        repo = GitRepo(workdir / "repo")
        repo.commit_dockerfile(run_step("echo warm-up"))
        projects = [
            Project.objects.create(
                tenant=tenant, name="bench", repository_url=repo.url, image_repository=f"{registry.host}/bench/app{n}"
            )
            for n, tenant in enumerate(tenants)
        ]
        for workers in args.workers:
            # the tenants' limits must not be the bottleneck
            Tenant.objects.filter(pk__in=[t.pk for t in tenants]).update(max_running_builds=workers)
            stack = start_stack(workdir / f"stack-{workers}", workers)
            try:
                if workers == args.workers[0]:
                    mode = "services (Celery pool processes)" if stack.services else "embedded (pool threads)"
                    print(
                        f"mode: {mode}; {args.builds} builds started at once per round over {args.tenants} "
                        f"tenant(s), {args.rounds} round(s) per worker count; FROM scratch + busybox + 1 RUN; "
                        "4 tags pushed",
                        flush=True,
                    )
                clients = [StackClient(stack, user, tenant) for tenant in tenants]
                # warm-up: imports and connections in the workers, each tenant's FROM/COPY layers in its cache
                warm_up = commit_branches(repo, f"warm-{workers}", len(tenants))
                for n, branch in enumerate(warm_up):
                    batch([clients[n]], [projects[n]], [branch], args.timeout)
                results[workers] = []
                for round_number in range(1, args.rounds + 1):
                    branches = commit_branches(repo, f"w{workers}-r{round_number}", args.builds)
                    result = batch(clients, projects, branches, args.timeout)
                    results[workers].append(result)
                    print(
                        f"workers {workers} round {round_number}: {result['per_minute']:6.1f} builds/min "
                        f"({args.builds} in {result['span']:.1f} s)   queue wait median "
                        f"{statistics.median(result['waits']):.1f} s   build median "
                        f"{statistics.median(result['durations']):.1f} s",
                        flush=True,
                    )
            finally:
                stack.stop()
        print(f"{'workers':>7}  {'builds/min  min':>15}  {'median':>6}  {'max':>6}  {'queue wait':>10}  {'build':>7}")
        for workers, rounds in results.items():
            rates = [result["per_minute"] for result in rounds]
            waits = [wait for result in rounds for wait in result["waits"]]
            durations = [duration for result in rounds for duration in result["durations"]]
            print(
                f"{workers:>7}  {min(rates):>15.1f}  {statistics.median(rates):>6.1f}  {max(rates):>6.1f}  "
                f"{statistics.median(waits):>8.1f} s  {statistics.median(durations):>5.1f} s"
            )
        print("queue wait: started_at → slot_acquired_at; build: slot_acquired_at → completed_at (medians, all rounds)")
    finally:
        registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
