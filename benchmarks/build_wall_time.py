"""Wall time of a small build through the API versus the same git + buildah commands run by hand.

A script run by hand, not a test. It starts everything it needs: a real docker-registry on a free
loopback port, a daphne server (via testing.Stack; in services mode, with REDIS_URL
and a PostgreSQL DATABASE_URL, also a Celery worker), a fresh database, a user, a tenant and a
project on a local git repository whose Dockerfile is FROM scratch + busybox + one RUN step.

Each round commits a new RUN line (a fresh token), so neither side gets the RUN layer from the cache;
FROM and COPY are cached for both, as they would be for any real repeated build. Then it times:

- API: POST /builds + POST /builds/{id}/start, until GET /builds/{id} says success (polled every 50 ms);
- by hand: git clone --depth 1, git rev-parse, buildah bud --layers naming the image with the same
  four tags (build-N, branch, short sha, latest), buildah push per tag, one buildah rmi of the four,
  on the same storage root and registry.

Usage (from the repository root; the var dir keeps its database and workspaces apart):

    IMAGEFACTORY_VAR_DIR=/tmp/if-bench .venv/bin/python benchmarks/build_wall_time.py --builds 5

It prints median, min and max for both, the API's overhead (median API - median by hand), and where
the API's time went: dispatch (start → a worker claimed it), to the first log line, the git + buildah
work (first line → completed_at), and until the client's poll saw the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _bootstrap import setup_database


def run(argv: list[str], cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def by_hand(repo_url: str, repository: str, build_number: int, stack_env: dict[str, str], workdir: Path) -> float:
    """The commands the buildah executor runs, in the same order, timed end to end."""
    buildah = [
        "buildah",
        "--storage-driver",
        stack_env.get("BUILDAH_STORAGE_DRIVER", "vfs"),
        "--root",
        f"{stack_env['BUILDAH_STORAGE_ROOT']}/by-hand",
        "--runroot",
        f"{stack_env['BUILDAH_RUN_ROOT']}/by-hand",
    ]
    # The same sandbox the executor uses (builds/executors/buildah.py), unless it runs with chroot.
    sandbox = (
        ["--isolation", "chroot"]
        if stack_env.get("BUILD_ISOLATION") == "chroot"
        else ["--isolation", "oci", "--runtime", "runc", "--userns", "auto", "--network", "private"]
    )
    source = Path(tempfile.mkdtemp(dir=workdir, prefix="by-hand-")) / "src"
    started = time.perf_counter()
    run(
        [
            "git",
            "clone",
            "--depth",
            "1",
            "--single-branch",
            "--branch",
            "main",
            "--no-tags",
            "--",
            repo_url,
            str(source),
        ]
    )
    commit = run(["git", "rev-parse", "HEAD"], cwd=source)
    tags = [f"bh-{build_number}", "main-bh", commit[:12], "latest-bh"]
    names = [f"{repository}:{tag}" for tag in tags]
    run(
        [
            *buildah,
            "bud",
            *sandbox,
            "--layers",
            "--force-rm",
            "-f",
            str(source / "Dockerfile"),
            *(option for name in names for option in ("-t", name)),
            str(source),
        ],
        cwd=source,
    )
    for tag in tags:
        run(
            [
                *buildah,
                "push",
                "--tls-verify=false",
                "--digestfile",
                str(source.parent / "digest"),
                f"{repository}:{tag}",
                f"docker://{repository}:{tag}",
            ]
        )
    run([*buildah, "rmi", *names])
    elapsed = time.perf_counter() - started
    shutil.rmtree(source.parent, ignore_errors=True)
    return elapsed


PHASES = ["dispatch", "to first line", "first line to end", "end seen"]


def through_api(client, project, phases: dict[str, list[float]] | None = None) -> float:
    """Wall time of one build through the API; with `phases`, also where it went, from the build's
    own timestamps: dispatch (start → a worker claimed it), to first line (→ its first log line),
    first line to end (the git + buildah work, → completed_at), end seen (→ the client's poll saw it)."""
    from builds.models import Build, BuildLogLine

    started = time.perf_counter()
    build = client.create_build(project)
    client.start(build["id"])
    while (done := client.build(build["id"]))["status"] not in ("success", "failed", "cancelled"):
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    seen_at = datetime.now(UTC)  # the server runs on this host: one clock
    if done["status"] != "success":
        raise SystemExit(f"build failed: {done['error_message']}: {client.log_messages(build['id'])[-10:]}")
    if phases is not None:
        row = Build.objects.get(pk=build["id"])
        first_line = BuildLogLine.objects.filter(build_id=row.pk).order_by("seq").values_list("timestamp", flat=True)[0]
        for name, seconds in zip(
            PHASES,
            [
                (row.slot_acquired_at - row.started_at).total_seconds(),
                (first_line - row.slot_acquired_at).total_seconds(),
                (row.completed_at - first_line).total_seconds(),
                (seen_at - row.completed_at).total_seconds(),
            ],
            strict=True,
        ):
            phases[name].append(seconds)
    return elapsed


def summary(name: str, times: list[float]) -> str:
    return (
        f"{name:<9} median {statistics.median(times):6.2f} s   min {min(times):6.2f} s   "
        f"max {max(times):6.2f} s   ({', '.join(f'{t:.2f}' for t in times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=5, help="rounds (one API build + one by hand each)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="build-wall-time-"))
    user, tenant = setup_database(max_running_builds=1)

    from builds.models import Project
    from testing import GitRepo, Registry, Stack, StackClient, run_step, unique_token

    registry = Registry(workdir / "registry")
    stack = Stack(workdir / "stack").start()
    try:
        repo = GitRepo(workdir / "repo")
        repo.commit_dockerfile(run_step("echo warm-up"))
        project = Project.objects.create(
            tenant=tenant, name="bench", repository_url=repo.url, image_repository=f"{registry.host}/bench/app"
        )
        client = StackClient(stack, user, tenant)
        through_api(client, project)  # warm-up: imports, connections, the FROM/COPY layers
        api_times, hand_times = [], []
        phases: dict[str, list[float]] = {name: [] for name in PHASES}
        for n in range(1, args.builds + 1):
            repo.commit_dockerfile(run_step(f"echo api-{unique_token()}"))
            api_times.append(through_api(client, project, phases))
            repo.commit_dockerfile(run_step(f"echo hand-{unique_token()}"))
            hand_times.append(by_hand(repo.url, f"{registry.host}/bench/by-hand", n, stack.env, workdir))
        mode = "services (Celery worker)" if stack.services else "embedded (in-process pool)"
        print(f"{args.builds} small builds each way; mode: {mode}; FROM scratch + busybox + 1 RUN; 4 tags pushed")
        print(summary("API", api_times))
        print(summary("by hand", hand_times))
        overhead = statistics.median(api_times) - statistics.median(hand_times)
        print(f"overhead  median {overhead:+.2f} s ({100 * overhead / statistics.median(hand_times):+.0f} %)")
        print("where the API's time went (the build's own timestamps; create → start is the client's two calls):")
        for name, times in phases.items():
            print("  " + summary(name, times))
    finally:
        stack.stop()
        registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
