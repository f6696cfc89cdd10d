"""/projects: CRUD, every validation of issue §6, write-only encrypted secrets, pagination, delete rules."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from builds.models import Project
from testing import assert_envelope

pytestmark = pytest.mark.django_db

SECRET_FIELDS = ("registry_username", "registry_password", "git_username", "git_password", "git_ssh_private_key")
RESPONSE_FIELDS = {
    "id",
    "name",
    "repository_url",
    "default_branch",
    "dockerfile_path",
    "build_context",
    "image_repository",
    "has_registry_credentials",
    "has_git_credentials",
    "secret_names",
    "build_timeout_seconds",
    "created_at",
    "updated_at",
}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def create(owner_api):
    """create(**fields) -> the response of POST /projects with a valid body overridden by `fields`."""

    def post(**fields):
        body = {"name": f"p-{uuid.uuid4().hex[:8]}", "repository_url": "https://git.example.com/team/app.git", **fields}
        return owner_api.post("/api/v1/projects", body, format="json")

    return post


def assert_field_error(response, field: str) -> dict:
    body = assert_envelope(response, 400, "INVALID_REQUEST")
    assert isinstance(body["details"].get(field), str) and body["details"][field], body
    return body


# --- create and read ------------------------------------------------------------------------


def test_create_applies_the_defaults_and_returns_no_secrets(create, owner_api):
    response = create(name="app")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == RESPONSE_FIELDS
    assert body["name"] == "app" and body["default_branch"] == "main"
    assert body["dockerfile_path"] == "Dockerfile" and body["build_context"] == "."
    assert body["image_repository"] == "" and body["build_timeout_seconds"] == 1800
    assert body["has_registry_credentials"] is False
    assert owner_api.get(f"/api/v1/projects/{body['id']}").json() == body


def test_update_changes_only_the_given_fields(create, owner_api):
    created = create(name="before").json()
    response = owner_api.patch(
        f"/api/v1/projects/{created['id']}", {"name": "after", "default_branch": "release/1.x"}, format="json"
    )
    assert response.status_code == 200, response.content
    updated = response.json()
    assert updated["name"] == "after" and updated["default_branch"] == "release/1.x"
    assert updated["repository_url"] == created["repository_url"]
    assert updated["build_timeout_seconds"] == created["build_timeout_seconds"]
    assert owner_api.get(f"/api/v1/projects/{created['id']}").json()["name"] == "after"


def test_delete_then_gone(create, owner_api):
    project_id = create().json()["id"]
    response = owner_api.delete(f"/api/v1/projects/{project_id}")
    assert response.status_code == 204 and response.content == b""
    assert_envelope(owner_api.get(f"/api/v1/projects/{project_id}"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "status,deleted",
    [("in_progress", False), ("queued", True), ("success", True), ("failed", True), ("cancelled", True)],
)
def test_delete_is_409_while_a_build_is_running(owner_api, project, make_build, status, deleted):
    make_build(project, status=status)
    response = owner_api.delete(f"/api/v1/projects/{project.pk}")
    if deleted:
        assert response.status_code == 204
    else:
        assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "builds_running"
    assert Project.objects.filter(pk=project.pk).exists() is not deleted


# --- name -----------------------------------------------------------------------------------


def test_name_is_unique_within_the_tenant_only(create, api, owner, make_tenant):
    assert create(name="app").status_code == 201
    conflict = assert_envelope(create(name="app"), 409, "CONFLICT")
    assert "name" in conflict["details"]
    other_tenant = make_tenant("other", members={owner: "owner"})
    other = api(owner, other_tenant).post(
        "/api/v1/projects", {"name": "app", "repository_url": "git@h:a/b"}, format="json"
    )
    assert other.status_code == 201, other.content


def test_renaming_onto_an_existing_name_is_409(create, owner_api):
    create(name="taken")
    project_id = create(name="free").json()["id"]
    assert_envelope(owner_api.patch(f"/api/v1/projects/{project_id}", {"name": "taken"}, format="json"), 409)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "a\x00b", None, [], {}, 12, 1.5, True])
def test_bad_names_are_refused(create, name):
    assert_field_error(create(name=name), "name")


@pytest.mark.parametrize(
    "field", ["repository_url", "default_branch", "dockerfile_path", "image_repository", "registry_password"]
)
def test_text_fields_take_json_strings_only(create, field):
    assert_field_error(create(**{field: 12345}), field)


def test_name_and_repository_url_are_required(owner_api):
    response = owner_api.post("/api/v1/projects", {}, format="json")
    body = assert_envelope(response, 400, "INVALID_REQUEST")
    assert set(body["details"]) == {"name", "repository_url"}


# --- repository_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/team/app.git",
        "https://git.example.com:8443/group/sub/app",
        "ssh://git@git.example.com/team/app.git",
        "ssh://git@git.example.com:2222/team/app.git",
        "git@github.com:team/app.git",
        "deploy@git.example.com:team/app",
    ],
)
def test_repository_url_accepts_https_ssh_and_scp_syntax(create, url):
    response = create(repository_url=url)
    assert response.status_code == 201, response.content
    assert response.json()["repository_url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "https://bob:s3cret@git.example.com/team/app.git",
        "https://ghp_token123@github.com/team/app.git",
        "ssh://git:s3cret@git.example.com/team/app.git",
    ],
)
def test_repository_url_with_credentials_is_refused_and_not_echoed(create, url):
    body = assert_field_error(create(repository_url=url), "repository_url")
    assert "git_username" in body["details"]["repository_url"]
    assert "s3cret" not in str(body) and "ghp_token123" not in str(body)


@pytest.mark.parametrize(
    "url",
    [
        "http://github.com/team/app.git",
        "ftp://example.com/team/app.git",
        "git://github.com/team/app.git",
        "github.com/team/app",
        "https://github.com",
        "https://github.com/",
        "https://github.com/team app",
        "git@github.com:/etc/passwd",
        "ext::sh -c touch% /tmp/pwned",
        "--upload-pack=touch /tmp/pwned",
        "javascript:alert(1)",
        "",
        "https://github.com/te\nam/app",
        "git@github.com:team/a pp",
    ],
)
def test_repository_url_refuses_other_schemes_and_shapes(create, url):
    assert_field_error(create(repository_url=url), "repository_url")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("file:///srv/git/app", True),
        ("file:///srv/git", True),
        ("file://localhost/srv/git/app", True),
        ("file:///srv/gitx/app", False),  # a sibling that only starts like a root
        ("file:///srv/git/../../etc", False),
        ("file:///srv/git/%2e%2e/etc", False),
        ("file:///etc/app", False),
        ("file://srv/git/app", False),  # relative
    ],
)
def test_file_repositories_only_under_the_listed_roots(create, settings, url, allowed):
    settings.FILE_REPOSITORY_ROOTS = ["/srv/git"]
    response = create(repository_url=url)
    if allowed:
        assert response.status_code == 201, response.content
    else:
        assert_field_error(response, "repository_url")


def test_no_file_repositories_when_no_root_is_listed(create, settings):
    settings.FILE_REPOSITORY_ROOTS = []
    assert_field_error(create(repository_url="file:///srv/git/app"), "repository_url")


def test_patch_validates_the_repository_url_too(create, owner_api, settings):
    settings.FILE_REPOSITORY_ROOTS = ["/srv/git"]
    project_id = create().json()["id"]
    response = owner_api.patch(f"/api/v1/projects/{project_id}", {"repository_url": "file:///etc"}, format="json")
    assert_field_error(response, "repository_url")


# --- in-repository paths --------------------------------------------------------------------

PATH_FIELDS = ["dockerfile_path", "build_context"]


@pytest.mark.parametrize("field", PATH_FIELDS)
@pytest.mark.parametrize("value", ["Dockerfile", "docker/Dockerfile.prod", "./sub/dir", "sub/..x", "."])
def test_relative_paths_inside_the_repository_are_accepted(create, field, value):
    if field == "dockerfile_path" and value == ".":
        return  # a directory as Dockerfile is the executor's business, not a path-escape question
    response = create(**{field: value})
    assert response.status_code == 201, response.content
    assert response.json()[field] == value


@pytest.mark.parametrize("field", PATH_FIELDS)
@pytest.mark.parametrize(
    # Any '..' component, even one that comes back inside: the rule is one pattern, also in the schema.
    "value",
    ["../Dockerfile", "..", "a/../../b", "a/../b", "/etc/passwd", "/", "a\\..\\b", "", "sub/\x00x", "./../x"],
)
def test_paths_leaving_the_repository_or_absolute_are_refused(create, field, value):
    assert_field_error(create(**{field: value}), field)


# --- image_repository -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "registry.example.com/team/app",
        "team/app",
        "app",
        "localhost:5000/app",
        "registry.example.com:5000/a/b/c",
        "ghcr.io/org/app-name_x.y",
        "",
    ],
)
def test_image_repository_without_tag_is_accepted(create, value):
    response = create(image_repository=value)
    assert response.status_code == 201, response.content
    assert response.json()["image_repository"] == value


@pytest.mark.parametrize(
    "value",
    [
        "registry.example.com/team/app:latest",
        "team/app:1.0",
        "app@sha256:" + "a" * 64,
        "Team/App",
        "team//app",
        "/app",
        "app/",
        "https://registry.example.com/app",
        "team/a\npp",
        "a b",
    ],
)
def test_image_repository_with_tag_digest_or_bad_syntax_is_refused(create, value):
    assert_field_error(create(image_repository=value), "image_repository")


# --- build_timeout_seconds ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,ok",
    [
        (30, True),
        (600, True),
        (601, False),
        (29, False),
        (0, False),
        (-1, False),
        (10**12, False),
        ("abc", False),
        (1.5, False),
        (None, False),
    ],
)
def test_build_timeout_is_bounded_by_the_setting(create, settings, value, ok):
    settings.MAX_BUILD_TIMEOUT_SECONDS = 600
    response = create(build_timeout_seconds=value)
    if ok:
        assert response.status_code == 201 and response.json()["build_timeout_seconds"] == value
    else:
        assert_field_error(response, "build_timeout_seconds")


# --- other fields ---------------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["", "-x", "a..b", "a b", "refs/heads/", "x.lock", "a~1"])
def test_bad_default_branch_is_refused(create, branch):
    assert_field_error(create(default_branch=branch), "default_branch")


@pytest.mark.parametrize("field", ["colour", "id", "created_at", "has_registry_credentials", "tenant", "build_counter"])
def test_unknown_and_read_only_fields_are_refused_by_name(create, owner_api, field):
    assert_field_error(create(**{field: "x"}), field)
    project_id = create().json()["id"]
    assert_field_error(owner_api.patch(f"/api/v1/projects/{project_id}", {field: "x"}, format="json"), field)


WEIRD_VALUES = [None, [], {}, 10**30, -1, True, "\x00", "x" * 20000, "ünïcode ✓", {"$gt": ""}]
ALL_FIELDS = [
    "name",
    "repository_url",
    "default_branch",
    "dockerfile_path",
    "build_context",
    "image_repository",
    *SECRET_FIELDS,
    "build_timeout_seconds",
]


@pytest.mark.parametrize("mode", ["create", "patch"])
@pytest.mark.parametrize("value", WEIRD_VALUES, ids=[repr(v)[:20] for v in WEIRD_VALUES])
@pytest.mark.parametrize("field", ALL_FIELDS)
def test_bad_input_is_never_a_500(create, owner_api, project, field, value, mode):
    if mode == "create":
        response = create(**{field: value})
    else:
        response = owner_api.patch(f"/api/v1/projects/{project.pk}", {field: value}, format="json")
    assert response.status_code in (200, 201, 400), response.content[:300]
    if response.status_code == 400:
        assert_field_error(response, field)


# --- secrets --------------------------------------------------------------------------------

SECRETS = {
    "registry_username": "robot$ci",
    "registry_password": "reg-pa55-word",
    "git_username": "gitbot",
    "git_password": "git-pa55-word",
    "git_ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
}


def _raw_columns(project_id) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(SECRET_FIELDS)} FROM builds_project WHERE id = %s",
            [uuid.UUID(str(project_id)).hex if connection.vendor == "sqlite" else str(project_id)],
        )
        return dict(zip(SECRET_FIELDS, cursor.fetchone(), strict=True))


def test_secrets_are_write_only_and_stored_encrypted(create, owner_api, caplog):
    caplog.set_level("DEBUG")
    created = create(**SECRETS)
    assert created.status_code == 201, created.content
    project_id = created.json()["id"]
    responses = [
        created,
        owner_api.get(f"/api/v1/projects/{project_id}"),
        owner_api.get("/api/v1/projects"),
        owner_api.patch(f"/api/v1/projects/{project_id}", {"registry_password": "rotated-pa55"}, format="json"),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        text = response.content.decode()
        assert not any(field in text for field in SECRET_FIELDS)
        assert not any(secret in text for secret in [*SECRETS.values(), "rotated-pa55"])
    assert created.json()["has_registry_credentials"] is True

    raw = _raw_columns(project_id)
    project = Project.objects.get(pk=project_id)
    for field in SECRET_FIELDS:
        assert raw[field] and raw[field] != getattr(project, field)
        assert SECRETS[field].strip() not in raw[field] and "rotated-pa55" not in raw[field]
    assert project.registry_password == "rotated-pa55" and project.git_password == SECRETS["git_password"]
    assert not any(secret in caplog.text for secret in [*SECRETS.values(), "rotated-pa55"])


def test_build_secrets_are_write_only_stored_encrypted_and_listed_by_name(create, owner_api):
    created = create(secrets={"NPM_TOKEN": "npm-t0ken-value", "pip.conf": "[global]\ntoken = pip-t0ken"})
    assert created.status_code == 201, created.content
    project_id = created.json()["id"]
    patched = owner_api.patch(f"/api/v1/projects/{project_id}", {"secrets": {"NPM_TOKEN": "n3w-t0ken"}}, format="json")

    for response in (created, owner_api.get(f"/api/v1/projects/{project_id}"), patched):
        text = response.content.decode()
        assert "t0ken" not in text and '"secrets"' not in text
    assert created.json()["secret_names"] == ["NPM_TOKEN", "pip.conf"]
    assert patched.json()["secret_names"] == ["NPM_TOKEN"]  # the request's mapping replaces the stored one
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets FROM builds_project WHERE id = %s",
            [uuid.UUID(project_id).hex if connection.vendor == "sqlite" else project_id],
        )
        raw = cursor.fetchone()[0]
    assert raw and "t0ken" not in raw and "NPM_TOKEN" not in raw  # names are secret at rest too
    assert Project.objects.get(pk=project_id).secrets == {"NPM_TOKEN": "n3w-t0ken"}


@pytest.mark.parametrize(
    "value",
    [
        {"bad name": "x"},
        {"": "x"},
        {"-leading-dash": "x"},
        {"A" * 65: "x"},
        {"TOKEN": 5},
        {"TOKEN": ""},
        ["TOKEN"],
        "TOKEN=x",
        {f"S{n}": "x" for n in range(33)},
    ],
)
def test_build_secrets_validation(create, value):
    assert_field_error(create(secrets=value), "secrets")


# --- credentials are bound to the host they were given for -------------------------------------

GIT_CREDENTIALS = {"git_username": "gitbot", "git_password": "git-pa55-word"}
REGISTRY_CREDENTIALS = {"registry_username": "robot", "registry_password": "reg-pa55-word"}


@pytest.mark.parametrize(
    ("change", "keeps"),
    [
        ({"repository_url": "https://git.attacker.example/team/app.git"}, False),
        ({"repository_url": "https://git.example.com:8443/team/app.git"}, False),  # another port, another host
        ({"repository_url": "git@git.attacker.example:team/app.git"}, False),
        ({"repository_url": "https://git.example.com/other/app.git"}, True),  # same host, other path
        ({"repository_url": "https://GIT.example.com/team/app.git"}, True),
        ({"name": "renamed"}, True),
    ],
)
def test_a_new_repository_host_drops_the_git_credentials(create, owner_api, change, keeps):
    project_id = create(**GIT_CREDENTIALS).json()["id"]

    response = owner_api.patch(f"/api/v1/projects/{project_id}", change, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["has_git_credentials"] is keeps
    project = Project.objects.get(pk=project_id)
    assert (project.git_username, project.git_password) == (
        (GIT_CREDENTIALS["git_username"], GIT_CREDENTIALS["git_password"]) if keeps else ("", "")
    )


def test_a_new_repository_host_keeps_credentials_given_with_it(create, owner_api):
    project_id = create(**GIT_CREDENTIALS).json()["id"]

    response = owner_api.patch(
        f"/api/v1/projects/{project_id}",
        {"repository_url": "https://git.other.example/team/app.git", "git_username": "new", "git_password": "n3w"},
        format="json",
    )

    assert response.json()["has_git_credentials"] is True
    assert Project.objects.get(pk=project_id).git_password == "n3w"


@pytest.mark.parametrize(
    ("old", "new", "keeps"),
    [
        ("registry.example.com/team/app", "registry.attacker.example/team/app", False),
        ("registry.example.com/team/app", "registry.example.com/team/other", True),
        ("registry.example.com/team/app", "team/app", False),  # Docker Hub is another registry
        ("registry.example.com/team/app", "", False),
    ],
)
def test_a_new_registry_host_drops_the_registry_credentials(create, owner_api, old, new, keeps):
    project_id = create(image_repository=old, **REGISTRY_CREDENTIALS).json()["id"]

    response = owner_api.patch(f"/api/v1/projects/{project_id}", {"image_repository": new}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["has_registry_credentials"] is keeps
    assert bool(Project.objects.get(pk=project_id).registry_password) is keeps


# --- pagination -----------------------------------------------------------------------------


@pytest.fixture
def five_projects(make_project, tenant):
    return [make_project(tenant, name=f"p{n}") for n in range(5)]


@pytest.mark.parametrize(
    "query,names,has_more",
    [
        ("", ["p0", "p1", "p2", "p3", "p4"], False),
        ("?limit=2", ["p0", "p1"], True),
        ("?limit=2&page=2", ["p2", "p3"], True),
        ("?limit=2&page=3", ["p4"], False),
        ("?limit=2&page=9", [], False),
        ("?limit=100", ["p0", "p1", "p2", "p3", "p4"], False),
    ],
)
def test_list_is_paginated_like_the_guide(owner_api, five_projects, query, names, has_more):
    response = owner_api.get(f"/api/v1/projects{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"projects", "total_count", "page", "limit", "has_more"}
    assert [p["name"] for p in body["projects"]] == names
    assert body["total_count"] == 5 and body["has_more"] is has_more


@pytest.mark.parametrize(
    "query,field",
    [("?limit=0", "limit"), ("?limit=101", "limit"), ("?page=0", "page"), ("?page=x", "page"), ("?limit=-5", "limit")],
)
def test_bad_pagination_parameters_are_400(owner_api, query, field):
    assert_field_error(owner_api.get(f"/api/v1/projects{query}"), field)


def test_list_shows_only_the_tenants_projects(owner_api, project, make_tenant, make_project, make_user):
    make_project(make_tenant(members={make_user(): "owner"}), name="foreign")
    assert [p["name"] for p in owner_api.get("/api/v1/projects").json()["projects"]] == ["app"]


def test_list_query_count_does_not_grow_with_the_page(owner_api, make_project, tenant, django_assert_max_num_queries):
    for n in range(30):
        make_project(tenant, name=f"bulk{n:02}")
    with django_assert_max_num_queries(8):
        assert len(owner_api.get("/api/v1/projects?limit=30").json()["projects"]) == 30


def test_a_stale_project_save_never_rewinds_the_build_counter(owner, tenant, project):
    from builds.services import builds as services
    from builds.services import projects as project_services

    stale = type(project).objects.get(pk=project.pk)  # loaded before the build below, like a slow PATCH
    services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    project_services.update_project(project=stale, default_branch="develop")
    stale.name = "renamed-in-the-admin"
    stale.save()  # a full save of the stale instance, as the admin does

    second = services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")

    assert second.build_number == 2
    project.refresh_from_db()
    assert (project.build_counter, project.name, project.default_branch) == (2, "renamed-in-the-admin", "develop")
