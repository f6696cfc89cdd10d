"""Fixtures for the engine and stream tests: a real registry, git repositories, server processes."""

from __future__ import annotations

import shutil

import pytest

from imagefactory.testing import GitRepo, Registry, Stack, StackClient, need


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
def registry_project(make_project, tenant, git_repo, registry):
    return make_project(tenant, name="app", repository_url=git_repo.url,
                        image_repository=f"{registry.host}/acme/app")
