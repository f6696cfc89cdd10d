"""What the build sandbox costs: the same small build through the API, sandboxed and with chroot, one run.

A script run by hand, not a test. It starts two servers on one database (and, in services mode,
a Celery worker each): one with the default BUILD_ISOLATION=oci (runc, user namespace, private
network, limits), one with BUILD_ISOLATION=chroot (no sandbox). Rounds alternate between them,
each build with a new RUN line (no cache hit for it), so both see the same machine load.

    IMAGEFACTORY_VAR_DIR=/tmp/if-bench .venv/bin/python benchmarks/sandbox_cost.py --builds 7

It prints min/median/max for both and the sandbox's share of the median wall time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from _bootstrap import setup_database
from build_wall_time import summary, through_api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=7, help="builds per isolation")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sandbox-cost-"))
    user, tenant = setup_database(max_running_builds=1)

    from builds.models import Project
    from testing import GitRepo, Registry, Stack, StackClient, run_step, unique_token

    registry = Registry(workdir / "registry")
    stacks = {
        isolation: Stack(workdir / isolation, extra_env={"BUILD_ISOLATION": isolation}).start()
        for isolation in ("oci", "chroot")
    }
    try:
        repo = GitRepo(workdir / "repo")
        repo.commit_dockerfile(run_step("echo warm-up"))
        times: dict[str, list[float]] = {isolation: [] for isolation in stacks}
        clients = {}
        for isolation, stack in stacks.items():
            project = Project.objects.create(
                tenant=tenant,
                name=f"bench-{isolation}",
                repository_url=repo.url,
                image_repository=f"{registry.host}/bench/{isolation}",
            )
            clients[isolation] = (StackClient(stack, user, tenant), project)
            through_api(*clients[isolation])  # warm-up: imports, connections, the FROM/COPY layers
        for _ in range(args.builds):
            for isolation, (client, project) in clients.items():
                repo.commit_dockerfile(run_step(f"echo {isolation}-{unique_token()}"))
                times[isolation].append(through_api(client, project))
        mode = "services (Celery worker)" if stacks["oci"].services else "embedded (in-process pool)"
        print(f"{args.builds} small builds each; mode: {mode}; FROM scratch + busybox + 1 RUN; 4 tags pushed")
        for isolation, measured in times.items():
            print(summary(isolation, measured))
        sandbox, plain = statistics.median(times["oci"]), statistics.median(times["chroot"])
        print(
            f"sandbox   median {sandbox - plain:+.2f} s ({100 * (sandbox - plain) / plain:+.1f} % of the chroot build)"
        )
    finally:
        for stack in stacks.values():
            stack.stop()
        registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
