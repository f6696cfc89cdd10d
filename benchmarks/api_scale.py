"""The build list and a build's status at 10,000 and at 1,000,000 builds in the tenant, beside /healthz.

A script run by hand, not a test. PostgreSQL only (DATABASE_URL; a database of its own, which it
fills). It seeds two tenants with SQL (INSERT … SELECT generate_series: 10,000 builds, and
1,000,000), VACUUM ANALYZEs, starts daphne on that database (testing.Stack; with REDIS_URL in
services mode, else embedded), and then times, in rounds:

- GET /healthz;
- GET /builds?limit=20 in each tenant (and with a status filter, a project filter, sort_by=updated_at
  asc, a deep page);
- GET /builds/{id}/status in each tenant.

Each round sends every request --requests times, one after another over one keep-alive connection,
and keeps the median; the table gives min/median/max of those medians over --rounds rounds, and each
row's median as a multiple of /healthz's. With --plans it prints EXPLAIN (ANALYZE, BUFFERS) of the
list's queries in the big tenant.

Usage (from the repository root):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/if_bench IMAGEFACTORY_VAR_DIR=/tmp/if-bench \\
        .venv/bin/python benchmarks/api_scale.py --rounds 5 --requests 50 [--plans]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _bootstrap import setup_database

# No in_progress: a worker of the Stack would take seeded waiting builds up (and run them).
STATUSES = ["queued", "success", "failed", "cancelled", "success"]
PROJECTS = 10  # per tenant


def seed(tenant, user, count: int) -> list:
    """`count` builds over PROJECTS projects, statuses mixed, one INSERT … SELECT."""
    from django.db import connection

    from builds.models import Project

    projects = [
        Project.objects.create(tenant=tenant, name=f"p{i}", repository_url="https://git.example.com/app.git")
        for i in range(PROJECTS)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO builds_build (id, tenant_id, project_id, build_number, git_branch, build_args, status,
                step_name, worker, log_line_count, created_by_id, created_at, updated_at, started_at, completed_at)
            SELECT gen_random_uuid(), %s, (%s::uuid[])[1 + n %% %s], 1 + n / %s, 'main', '{}',
                (%s::text[])[1 + (n / %s) %% 5], '', '', 0, %s,
                now() - (n || ' seconds')::interval, now() - ((n * 13 %% 100000) || ' seconds')::interval,
                now() - (n || ' seconds')::interval, now() - (n || ' seconds')::interval + interval '30 seconds'
            FROM generate_series(0, %s - 1) AS n
            """,
            [tenant.pk, [p.pk for p in projects], PROJECTS, PROJECTS, STATUSES, PROJECTS, user.pk, count],
        )
        for project in projects:
            cursor.execute(
                "UPDATE builds_project SET build_counter = (SELECT max(build_number) FROM builds_build "
                "WHERE project_id = %s) WHERE id = %s",
                [project.pk, project.pk],
            )
    return projects


def timed(session, url: str, headers: dict, requests_per_round: int) -> float:
    """The median of `requests_per_round` requests, in milliseconds."""
    times = []
    for _ in range(requests_per_round):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
    return statistics.median(times)


def explain(tenant, projects) -> None:
    from django.db import connection
    from django.db.models import Subquery

    from builds.models import Build, BuildCount

    builds = Build.objects.for_tenant(tenant)
    newest = builds.order_by("-created_at", "-id")
    queries = {
        "total_count: the counts of the tenant": BuildCount.objects.filter(tenant_id=tenant.pk).values("count"),
        "total_count: … of one project and status": BuildCount.objects.filter(
            tenant_id=tenant.pk, project_id=projects[0].pk, status="failed"
        ).values("count"),
        "page 1, created_at desc": newest[:20],
        "page 1, status=failed, created_at desc": builds.filter(status="failed").order_by("-created_at", "-id")[:20],
        "page 1, project, build_number asc": builds.filter(project=projects[0]).order_by("build_number", "id")[:20],
        "page 1, updated_at asc": builds.order_by("updated_at", "id")[:20],
        "page 25001 (offset 500000), created_at desc: ids first, then their rows": newest.filter(
            pk__in=Subquery(newest.values("pk")[500000:500020])
        ),
    }
    with connection.cursor() as cursor:
        for name, query in queries.items():
            sql, params = query.query.sql_with_params()
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
            print(f"\n-- {name}")
            print("\n".join(row[0] for row in cursor.fetchall()))


def _seeded():
    """The user, tenants and projects of the latest earlier run in this database."""
    from tenants.models import Tenant

    big = Tenant.objects.filter(slug__endswith="-big").latest("created_at")
    small = Tenant.objects.get(slug=big.slug.removesuffix("-big"))
    user = small.memberships.get().user
    return user, small, big, list(small.projects.order_by("name")), list(big.projects.order_by("name"))


def _short(count: int) -> str:
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=50, help="requests per row per round")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--plans", action="store_true", help="print the query plans in the big tenant")
    parser.add_argument("--reuse", action="store_true", help="time the tenants an earlier run seeded")
    args = parser.parse_args()

    if args.reuse:
        import django

        django.setup()
        user, small, big, small_projects, big_projects = _seeded()
        args.small, args.big = small.builds.count(), big.builds.count()
    else:
        user, small = setup_database()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("api_scale.py needs PostgreSQL (DATABASE_URL)")
    from tenants.models import Membership, Role, Tenant

    if not args.reuse:
        big = Tenant.objects.create(name=f"{small.name}-big", slug=f"{small.slug}-big")
        Membership.objects.create(user=user, tenant=big, role=Role.objects.get(name="owner"))
        started = time.perf_counter()
        small_projects = seed(small, user, args.small)
        big_projects = seed(big, user, args.big)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE builds_build")
            cursor.execute("VACUUM ANALYZE builds_buildcount")
        print(f"seeded {args.small} + {args.big} builds in {time.perf_counter() - started:.0f} s")
    if args.plans:
        explain(big, big_projects)

    import requests

    from builds.models import Build
    from testing import Stack
    from testing.assertions import access_token_for

    workdir = Path(tempfile.mkdtemp(prefix="api-scale-"))
    # DEBUG off, as in production: with it on, Django wraps every query to record its SQL and time.
    stack = Stack(workdir / "stack", extra_env={"RATE_LIMIT_REQUESTS": "10000000", "DEBUG": "0"}).start()
    try:
        token = access_token_for(user)
        rows: dict[str, tuple[str, dict]] = {"GET /healthz": (f"{stack.base_url}/healthz", {})}
        for label, tenant, projects, count in (
            (_short(args.small), small, small_projects, args.small),
            (_short(args.big), big, big_projects, args.big),
        ):
            headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": str(tenant.pk)}
            api = f"{stack.base_url}/api/v1"
            some_build = (
                Build.objects.filter(tenant=tenant).order_by("created_at").values_list("pk", flat=True)[count // 2]
            )
            rows[f"GET /builds?limit=20 ({label})"] = (f"{api}/builds?limit=20", headers)
            rows[f"GET /builds/{{id}}/status ({label})"] = (f"{api}/builds/{some_build}/status", headers)
            rows[f"  …&status=failed ({label})"] = (f"{api}/builds?limit=20&status=failed", headers)
            rows[f"  …&project_id=… ({label})"] = (f"{api}/builds?limit=20&project_id={projects[3].pk}", headers)
            rows[f"  …&sort_by=updated_at&sort_order=asc ({label})"] = (
                f"{api}/builds?limit=20&sort_by=updated_at&sort_order=asc",
                headers,
            )
            rows[f"  …&page={count // 40} (middle) ({label})"] = (f"{api}/builds?limit=20&page={count // 40}", headers)
        medians: dict[str, list[float]] = {name: [] for name in rows}
        with requests.Session() as session:
            for url, headers in rows.values():  # warm-up
                timed(session, url, headers, 3)
            for _ in range(args.rounds):
                fresh = f"Bearer {access_token_for(user)}"  # a slow run outlives an access token
                for name, (url, headers) in rows.items():
                    if headers:
                        headers["Authorization"] = fresh
                    medians[name].append(timed(session, url, headers, args.requests))
        mode = "services" if stack.services else "embedded"
        print(f"\n{args.rounds} rounds x {args.requests} requests per row; mode: {mode}; ms per request")
        print(f"{'request':<48} {'min':>8} {'median':>8} {'max':>8}  {'x healthz':>9}")
        health = statistics.median(medians["GET /healthz"])
        for name, values in medians.items():
            median = statistics.median(values)
            print(f"{name:<48} {min(values):8.2f} {median:8.2f} {max(values):8.2f}  {median / health:9.2f}")
        for kind in ("GET /builds?limit=20", "GET /builds/{id}/status"):
            big_median = statistics.median(medians[f"{kind} ({_short(args.big)})"])
            ratio = big_median / statistics.median(medians[f"{kind} ({_short(args.small)})"])
            print(f"{kind}: {_short(args.big)} / {_short(args.small)} = {ratio:.2f}")
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
