"""Shared fixtures: users, tenants, projects, builds and an API client speaking as a member.

IMAGEFACTORY_REQUIRE_SERVICES=1 (set by .ci/run) turns every skipped test into a failure, so a
missing service, binary or tool can never pass CI as a quiet skip. =embedded (CI's embedded run)
does the same except for the PostgreSQL-only and services-only tests (SQLite; no Redis), which
cannot run there by design.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

import imagefactory.celery  # noqa: F401 — in-process dispatch (services mode) uses this app
from testing import POSTGRES_ONLY, SERVICES_ONLY, GitRepo, Registry, Stack, StackClient, access_token_for, need

REQUIRE_SERVICES = os.environ.get("IMAGEFACTORY_REQUIRE_SERVICES", "")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not REQUIRE_SERVICES or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if REQUIRE_SERVICES == "embedded" and (POSTGRES_ONLY in reason or SERVICES_ONLY in reason):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under IMAGEFACTORY_REQUIRE_SERVICES={REQUIRE_SERVICES}, which forbids it: {reason}"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Rate-limit counters live in the cache; every test starts from zero.

    On Redis a per-test key prefix, not FLUSHDB: the same database holds Celery's queues.
    """
    if settings.SERVICES_MODE:
        caches = {**settings.CACHES}
        caches["default"] = {**caches["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
        settings.CACHES = caches
    else:
        cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Tests make many users; hashing strength is not what they test (login still checks the hash)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def roles(db):
    """The built-in roles (a flushed transactional database loses the data migration's rows)."""
    from tenants.models import Role
    from tenants.roles import BUILTIN_ROLES

    return {
        name: Role.objects.update_or_create(name=name, defaults={"permissions": list(perms)})[0]
        for name, perms in BUILTIN_ROLES.items()
    }


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(email: str | None = None, *, password: str = "correct-horse-9", superuser: bool = False, **fields) -> User:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        create = User.objects.create_superuser if superuser else User.objects.create_user
        return create(email=email, password=password, **fields)

    return make


@pytest.fixture
def make_tenant(db, roles):
    from tenants.models import Membership, Tenant

    def make(name: str | None = None, *, members: dict | None = None, **fields) -> Tenant:
        name = name or f"tenant-{uuid.uuid4().hex[:8]}"
        tenant = Tenant.objects.create(name=name, slug=name.lower(), **fields)
        for user, role in (members or {}).items():
            Membership.objects.create(user=user, tenant=tenant, role=roles[role])
        return tenant

    return make


@pytest.fixture
def make_project(db):
    from builds.models import Project

    def make(tenant, **fields) -> Project:
        fields.setdefault("name", f"project-{uuid.uuid4().hex[:8]}")
        fields.setdefault("repository_url", "https://git.example.com/team/app.git")
        return Project.objects.create(tenant=tenant, **fields)

    return make


@pytest.fixture
def make_build(db):
    from builds.models import Build, Project

    def make(project, *, status: str = "queued", **fields) -> Build:
        Project.objects.filter(pk=project.pk).update(build_counter=project.build_counter + 1)
        project.refresh_from_db()
        fields.setdefault("git_branch", "main")
        return Build.objects.create(
            tenant=project.tenant, project=project, build_number=project.build_counter, status=status, **fields
        )

    return make


@pytest.fixture
def api():
    """api(user, tenant) -> an APIClient sending Bearer and X-Tenant-ID like the guide's curl.

    `token=` sends that raw token instead of the user's; `tenant_header=` that raw header value.
    """

    def make(user=None, tenant=None, *, tenant_header: str | None = None, token: str | None = None) -> APIClient:
        client = APIClient()
        headers = {}
        if token is None and user is not None:
            token = access_token_for(user)
        if token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        if tenant_header is not None:
            headers["HTTP_X_TENANT_ID"] = tenant_header
        elif tenant is not None:
            headers["HTTP_X_TENANT_ID"] = str(tenant.pk)
        client.credentials(**headers)
        return client

    return make


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com")


@pytest.fixture
def tenant(make_tenant, owner):
    return make_tenant("acme", members={owner: "owner"})


@pytest.fixture
def project(make_project, tenant):
    return make_project(tenant, name="app")


@pytest.fixture
def owner_api(api, owner, tenant) -> APIClient:
    return api(owner, tenant)


# --- Real services: a registry, git repositories, server processes (builds and CLI tests) ------


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture
def buildah():
    need(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")
    need(shutil.which("git") is not None, "git is not installed")


@pytest.fixture
def git_repo(tmp_path):
    """A fresh repository with a busybox Dockerfile that echoes its build arg."""
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile('ARG GREETING=hello\nRUN ["/bin/busybox", "sh", "-c", "echo greeting=$GREETING"]')
    return repo


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne (+ a Celery worker when REDIS_URL is set) on the test database, for the session."""
    need(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")
    running = Stack(tmp_path_factory.mktemp("stack"))
    with django_db_blocker.unblock():
        running.start()
    yield running
    running.stop()


@pytest.fixture
def member_client(stack, transactional_db, owner, tenant):
    """A StackClient acting as the tenant's owner (data committed: the server sees it)."""
    return StackClient(stack, owner, tenant)


@pytest.fixture
def engine_project(make_project, tenant, git_repo, registry):
    """engine_project(**fields) -> a project on the test's own repository, pushing to its own image repository."""

    def make(**fields):
        fields.setdefault("name", f"app-{uuid.uuid4().hex[:8]}")
        fields.setdefault("repository_url", git_repo.url)
        fields.setdefault("image_repository", f"{registry.host}/engine/{fields['name']}")
        return make_project(tenant, **fields)

    return make
