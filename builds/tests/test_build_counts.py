"""The counts behind GET /builds' total_count stay exact: random operations, alone and racing on
PostgreSQL, then every (tenant, project, status) count compared with COUNT(*) of the rows."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from django.db.models import Count
from django.utils import timezone

from builds import selectors
from builds.api.filters import BuildFilter
from builds.models import Build, BuildCount, BuildStatus
from builds.runner import reports
from builds.services import builds as build_services
from builds.states import Phase, transition
from imagefactory.core.errors import Conflict, NotFound, RateLimited

OPERATIONS = ["create", "create", "start", "run", "finish", "cancel", "delete", "retry"]


def counted() -> Counter:
    """The kept counts, zero rows left out (a key whose builds all went stays at zero)."""
    return Counter(
        {(row.tenant_id, row.project_id, row.status): row.count for row in BuildCount.objects.all() if row.count != 0}
    )


def actual() -> Counter:
    rows = Build.objects.values("tenant_id", "project_id", "status").annotate(n=Count("id"))
    return Counter({(row["tenant_id"], row["project_id"], row["status"]): row["n"] for row in rows})


def random_operation(rng: random.Random, projects: list, user) -> None:
    """One of create, start, run (take a slot), finish, cancel, delete, retry, on a random build;
    refusals (409, 404, a full queue) are part of the game."""
    operation = rng.choice(OPERATIONS)
    project = rng.choice(projects)
    if operation == "create":
        build_services.create_build(tenant=project.tenant, project=project, user=user, git_branch="main")
        return
    ids = list(Build.objects.filter(project=project).values_list("pk", flat=True))
    if not ids:
        return
    build = Build.objects.filter(pk=rng.choice(ids)).select_related("tenant", "project").first()
    if build is None:
        return  # deleted by another thread since
    if operation == "start":
        build_services.start_build(build=build, user=user)
    elif operation == "run":
        transition(build.pk, to=Phase.RUNNING, sources=[Phase.WAITING], worker="counts-test")
    elif operation == "finish":
        reports.finish(build_id=build.pk, outcome=rng.choice([Phase.SUCCESS, Phase.FAILED]))
    elif operation == "cancel":
        build_services.cancel_build(build=build, user=user, reason="counts test")
    elif operation == "delete":
        build_services.delete_build(build=build)
    else:
        build_services.retry_build(build=build, user=user)


def play(rng: random.Random, projects: list, user, rounds: int) -> Counter:
    outcomes: Counter = Counter()
    for _ in range(rounds):
        try:
            random_operation(rng, projects, user)
            outcomes["done"] += 1
        except (Conflict, NotFound, RateLimited) as refusal:
            outcomes[type(refusal).__name__] += 1
    return outcomes


@pytest.fixture
def two_tenants_two_projects(make_tenant, make_project, tenant, owner):
    other = make_tenant("other", members={owner: "owner"})
    return [make_project(t, name=f"p{i}") for t in (tenant, other) for i in range(2)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_keep_the_counts_exact(two_tenants_two_projects, owner, seed):
    outcomes = play(random.Random(seed), two_tenants_two_projects, owner, rounds=300)

    assert outcomes["done"] > 100, outcomes  # the game really moved builds
    assert len(actual()) > 4  # builds of several projects in several statuses
    assert counted() == actual()


def test_concurrent_random_operations_keep_the_counts_exact(
    race_settings, two_tenants_two_projects, owner, run_concurrently
):
    """Eight threads, each its own connection and transactions, on the same few builds: no
    deadlock (count rows are locked in key order), no lost update."""
    projects = two_tenants_two_projects
    for project in projects:
        for _ in range(5):
            build_services.create_build(tenant=project.tenant, project=project, user=owner, git_branch="main")

    outcomes = run_concurrently(lambda i: play(random.Random(100 + i), projects, owner, rounds=60), 8)

    assert sum(o["done"] for o in outcomes) > 150, outcomes
    assert counted() == actual()


def test_every_filter_combination_of_the_list_totals_like_count(two_tenants_two_projects, owner, tenant, make_build):
    play(random.Random(7), two_tenants_two_projects, owner, rounds=200)
    mine = [p for p in two_tenants_two_projects if p.tenant_id == tenant.pk]

    for project in [None, *mine]:
        for status in [None, *BuildStatus.values]:
            rows = Build.objects.for_tenant(tenant)
            rows = rows.filter(project=project) if project else rows
            rows = rows.filter(status=status) if status else rows
            total = selectors.build_total(tenant, project_id=project.pk if project else None, status=status)
            assert total == rows.count(), (project, status)


def test_deleting_a_project_or_a_tenant_takes_its_counts_to_zero(two_tenants_two_projects, owner, make_build):
    projects = two_tenants_two_projects
    for project in projects:
        make_build(project, status="success")
        make_build(project, status="failed")

    projects[0].delete()
    projects[2].tenant.delete()

    assert counted() == actual()
    assert set(counted()) == {(projects[1].tenant_id, projects[1].pk, s) for s in ("success", "failed")}


def test_bulk_inserts_and_deletes_are_counted(project, tenant):
    Build.objects.bulk_create(
        Build(tenant=tenant, project=project, build_number=n, git_branch="main", status=status)
        for n, status in enumerate(["queued", "queued", "success", "cancelled"], start=1)
    )
    Build.objects.filter(status="queued").update(status="failed")
    Build.objects.filter(build_number__gte=3).delete()

    assert counted() == actual() == Counter({(tenant.pk, project.pk, "failed"): 2})


def test_the_list_offers_no_filter_the_counts_cannot_answer():
    """total_count comes from counts per (tenant, project, status). A new filter (branch, dates…)
    must count its rows instead (paginate without total=): this test makes that a decision."""
    assert set(BuildFilter.base_filters) == {"status", "project_id", "sort_by", "sort_order"}


@pytest.mark.parametrize(
    "query",
    [
        "limit=100",
        "status=failed&sort_by=updated_at&sort_order=asc",
        "project_id={project}&status=success&sort_by=build_number",
        "page=3&limit=2",
    ],
)
def test_the_list_reads_no_build_row_to_count_and_takes_four_queries_at_most(
    owner_api, project, make_build, django_assert_max_num_queries, query
):
    """The user, the membership (none once cached), the counts, the page."""
    for status in ["queued", "success", "failed", "failed", "cancelled", "success", "failed"]:
        make_build(project, status=status)

    with django_assert_max_num_queries(4) as queries:
        response = owner_api.get(f"/api/v1/builds?{query.format(project=project.pk)}")

    assert response.status_code == 200, response.content
    counting = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counting == []
    expected = Build.objects.for_tenant(project.tenant)
    for name, value in (p.split("=") for p in query.format(project=project.pk).split("&")):
        if name in ("status", "project_id"):
            expected = expected.filter(**{name: value})
    assert response.json()["total_count"] == expected.count()


def test_a_status_takes_four_queries_at_most(owner_api, project, make_build, django_assert_max_num_queries):
    """The user, the membership (none once cached), the build, the estimate's recent builds."""
    build = make_build(project, status="in_progress", started_at=timezone.now())

    with django_assert_max_num_queries(4):
        response = owner_api.get(f"/api/v1/builds/{build.pk}/status")

    assert response.status_code == 200 and response.json()["status"] == "in_progress"
