"""POST /builds input rules and GET /builds query parameters, filters, sorting and pagination."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from builds.models import Build
from builds.tests.test_validators import INVALID_BRANCHES, VALID_BRANCHES
from testing import assert_envelope


@pytest.fixture
def create(owner_api, project):
    """create(**fields) -> the response of POST /builds with a valid body overridden by fields."""

    def post(*, drop: tuple[str, ...] = (), **fields):
        body = {"project_id": str(project.pk), "git_branch": "main", **fields}
        for name in drop:
            body.pop(name)
        return owner_api.post("/api/v1/builds", body, format="json")

    return post


def _invalid(response, field: str) -> dict:
    body = assert_envelope(response, 400, "INVALID_REQUEST")
    assert field in body["details"], body
    assert Build.objects.count() == 0
    return body


def test_valid_create_answers_201_with_location(create, project):
    response = create(git_commit="ABCDEF1", build_args={"GREETING": "hi"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/builds/{body['id']}")
    assert body["project_id"] == str(project.pk)
    assert (body["status"], body["build_number"], body["git_branch"]) == ("queued", 1, "main")
    assert body["git_commit"] == "abcdef1"
    assert body["build_args"] == {"GREETING": "hi"}


# --- project_id -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "not-a-uuid", 123, None, ["x"], {"id": 1}, "00000000-0000-0000-0000"])
def test_project_id_malformed(create, value):
    _invalid(create(project_id=value), "project_id")


def test_project_id_missing(create):
    _invalid(create(drop=("project_id",)), "project_id")


def test_unknown_and_other_tenants_project_answer_identically(create, make_tenant, make_user, make_project):
    foreign = make_project(make_tenant(members={make_user(): "owner"}))

    unknown = _invalid(create(project_id=str(uuid.uuid4())), "project_id")
    other = _invalid(create(project_id=str(foreign.pk)), "project_id")

    assert (unknown["error"], unknown["details"]) == (other["error"], other["details"])


# --- git_branch -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(INVALID_BRANCHES), ids=list(INVALID_BRANCHES.values()))
def test_git_branch_rules(create, name):
    _invalid(create(git_branch=name), "git_branch")


@pytest.mark.parametrize("value", [None, 123, 1.5, True, ["main"], {"name": "main"}])
def test_git_branch_wrong_type(create, value):
    _invalid(create(git_branch=value), "git_branch")


def test_git_branch_missing(create):
    _invalid(create(drop=("git_branch",)), "git_branch")


@pytest.mark.parametrize("name", VALID_BRANCHES)
def test_git_branch_valid_names_are_stored_verbatim(create, name):
    response = create(git_branch=name)

    assert response.status_code == 201, response.content
    assert response.json()["git_branch"] == name
    assert Build.objects.get().git_branch == name


# --- git_commit -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["abc123", "a" * 65, "abcdefg", "", " abc1234", "abc1234\n", 1234567, True, ["abc1234"]]
)
def test_git_commit_rules(create, value):
    _invalid(create(git_commit=value), "git_commit")


@pytest.mark.parametrize(
    ("value", "stored"),
    [("abc1234", "abc1234"), ("A" * 40, "a" * 40), ("B" * 64, "b" * 64), ("c" * 41, "c" * 41), (None, None)],
    ids=["short", "sha1", "sha256", "sha256-prefix", "none"],
)
def test_git_commit_valid(create, value, stored):
    response = create(git_commit=value)

    assert response.status_code == 201, response.content
    assert response.json()["git_commit"] == stored


# --- build_args -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        ["A=1"],
        "A=1",
        1,
        True,
        {"A": 1},
        {"A": None},
        {"A": True},
        {"A": {"nested": "x"}},
        {"A": ["x"]},
        {"1A": "x"},
        {"A-B": "x"},
        {"": "x"},
        {"A B": "x"},
        {"A\n": "x"},
        {f"K{i}": "v" for i in range(65)},
    ],
)
def test_build_args_rules(create, value):
    _invalid(create(build_args=value), "build_args")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ({f"K{i}": "v" for i in range(64)}, {f"K{i}": "v" for i in range(64)}),
        ({"_A1": "", "B": "  spaced  "}, {"_A1": "", "B": "  spaced  "}),
        ({}, {}),
        (None, {}),
    ],
)
def test_build_args_valid(create, value, stored):
    response = create(build_args=value)

    assert response.status_code == 201, response.content
    assert response.json()["build_args"] == stored


# --- the body as a whole --------------------------------------------------------------------


@pytest.mark.parametrize("extra", ["status", "build_number", "id", "tenant_id", "gitBranch"])
def test_unknown_or_read_only_fields_are_rejected_by_name(create, extra):
    body = _invalid(create(**{extra: "x"}), extra)

    assert body["details"][extra] == "Unknown field."


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("[]", "application/json"),
        ('"main"', "application/json"),
        ("null", "application/json"),
        ("{not json", "application/json"),
        ("", "application/json"),
    ],
)
def test_body_must_be_a_json_object(owner_api, content, content_type):
    response = owner_api.generic("POST", "/api/v1/builds", content, content_type=content_type)

    assert_envelope(response, 400, "INVALID_REQUEST")
    assert Build.objects.count() == 0


# --- GET /builds: query parameters ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("status=running", "status"),
        ("status=QUEUED", "status"),
        ("project_id=abc", "project_id"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("page=1.5", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("sort_by=id", "sort_by"),
        ("sort_by=status", "sort_by"),
        ("sort_order=up", "sort_order"),
        ("sort_order=DESC", "sort_order"),
    ],
)
def test_list_invalid_parameter_is_400_naming_it(owner_api, query, param):
    body = assert_envelope(owner_api.get(f"/api/v1/builds?{query}"), 400, "INVALID_REQUEST")

    assert param in body["details"], body


@pytest.fixture
def two_projects(make_project, make_build, tenant, make_tenant, make_user):
    """Project a: queued, success, failed; project b: failed, cancelled; plus another tenant's build."""
    a, b = make_project(tenant, name="a"), make_project(tenant, name="b")
    builds = {
        "a1": make_build(a, status="queued"),
        "a2": make_build(a, status="success"),
        "a3": make_build(a, status="failed"),
        "b1": make_build(b, status="failed"),
        "b2": make_build(b, status="cancelled"),
    }
    make_build(make_project(make_tenant(members={make_user(): "owner"})), status="failed")
    return a, b, builds


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"a1", "a2", "a3", "b1", "b2"}),
        ("status=failed", {"a3", "b1"}),
        ("status=in_progress", set()),
        ("project_id={a}", {"a1", "a2", "a3"}),
        ("project_id={b}&status=failed", {"b1"}),
        ("project_id={unknown}", set()),
    ],
)
def test_list_filters(owner_api, two_projects, query, expected):
    a, b, builds = two_projects
    query = query.format(a=a.pk, b=b.pk, unknown=uuid.uuid4())

    body = owner_api.get(f"/api/v1/builds?{query}").json()

    assert {item["id"] for item in body["builds"]} == {str(builds[name].pk) for name in expected}
    assert body["total_count"] == len(expected)


@pytest.mark.parametrize("name", ["status", "project_id", "sort_by", "sort_order", "page", "limit"])
def test_an_empty_list_parameter_is_refused_not_ignored(owner_api, name):
    response = owner_api.get(f"/api/v1/builds?{name}=")

    assert response.status_code == 400
    assert response.json()["details"] == {name: "Must not be empty."}


@pytest.mark.parametrize(
    "value",
    [
        "{hex}",  # no hyphens
        "{{{canonical}}}",  # braces
        "urn:uuid:{canonical}",
        " {canonical}",
    ],
)
def test_project_id_filter_takes_the_canonical_uuid_form_only(owner_api, two_projects, value):
    a, _, _ = two_projects
    response = owner_api.get("/api/v1/builds", {"project_id": value.format(hex=a.pk.hex, canonical=a.pk)})

    assert response.status_code == 400
    assert response.json()["details"] == {"project_id": "Must be a valid UUID."}


def test_list_defaults(owner_api, project, make_build):
    for _ in range(21):
        make_build(project)

    body = owner_api.get("/api/v1/builds").json()

    assert (body["page"], body["limit"], body["total_count"], body["has_more"]) == (1, 20, 21, True)
    assert len(body["builds"]) == 20


@pytest.mark.parametrize("sort_by", ["created_at", "updated_at", "build_number"])
@pytest.mark.parametrize("sort_order", ["asc", "desc", None])
def test_list_sorts(owner_api, project, make_build, sort_by, sort_order):
    now = timezone.now()
    builds = [make_build(project) for _ in range(4)]
    # Three orders that disagree with each other, so a sort on the wrong field fails.
    for build, created, updated in zip(builds, (2, 0, 3, 1), (1, 3, 0, 2), strict=True):
        Build.objects.filter(pk=build.pk).update(
            created_at=now - timedelta(minutes=created), updated_at=now - timedelta(minutes=updated)
        )
    query = f"sort_by={sort_by}" + (f"&sort_order={sort_order}" if sort_order else "")

    got = [item["id"] for item in owner_api.get(f"/api/v1/builds?{query}").json()["builds"]]

    ordered = sorted(Build.objects.all(), key=lambda b: getattr(b, sort_by), reverse=sort_order != "asc")
    assert got == [str(b.pk) for b in ordered]


def test_default_sort_is_created_at_desc(owner_api, project, make_build):
    now = timezone.now()
    builds = [make_build(project) for _ in range(3)]
    for build, minutes in zip(builds, (1, 3, 2), strict=True):
        Build.objects.filter(pk=build.pk).update(created_at=now - timedelta(minutes=minutes))

    got = [item["id"] for item in owner_api.get("/api/v1/builds").json()["builds"]]

    assert got == [str(builds[0].pk), str(builds[2].pk), str(builds[1].pk)]


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", ["created_at", "updated_at"])
def test_equal_timestamps_tie_break_on_id_without_overlap(owner_api, project, make_build, sort_by, sort_order):
    builds = [make_build(project) for _ in range(7)]
    Build.objects.update(**{sort_by: timezone.now()})

    seen = []
    for page in range(1, 5):
        body = owner_api.get(f"/api/v1/builds?sort_by={sort_by}&sort_order={sort_order}&limit=2&page={page}").json()
        seen += [item["id"] for item in body["builds"]]

    expected = sorted((str(b.pk) for b in builds), key=uuid.UUID, reverse=sort_order == "desc")
    assert seen == expected


@pytest.mark.parametrize(
    ("count", "page", "limit", "returned", "has_more"),
    [
        (0, 1, 20, 0, False),
        (0, 3, 20, 0, False),
        (4, 1, 2, 2, True),
        (4, 2, 2, 2, False),
        (5, 2, 2, 2, True),
        (5, 3, 2, 1, False),
        (4, 3, 2, 0, False),
        (4, 1000, 100, 0, False),
        (3, 1, 100, 3, False),
        (1, 1, 1, 1, False),
    ],
)
def test_list_pagination_edges(owner_api, project, make_build, count, page, limit, returned, has_more):
    for _ in range(count):
        make_build(project)

    response = owner_api.get(f"/api/v1/builds?page={page}&limit={limit}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"builds", "total_count", "page", "limit", "has_more"}
    assert (len(body["builds"]), body["total_count"], body["page"], body["limit"], body["has_more"]) == (
        returned,
        count,
        page,
        limit,
        has_more,
    )
