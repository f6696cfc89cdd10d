"""manage.py bootstrap_demo [--json]: idempotent demo admin, tenant, owner and a buildable git project."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from builds.models import Project
from tenants.models import Membership, Tenant
from testing import BUSYBOX, need

pytestmark = pytest.mark.django_db

SUMMARY_KEYS = {"api_url", "tenant_id", "project_id", "email", "password"}


@pytest.fixture(autouse=True)
def demo_environment(settings, tmp_path, monkeypatch):
    need(BUSYBOX is not None, "busybox-static is not installed (the demo image copies it)")
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.delenv("IMAGEFACTORY_DEMO_PASSWORD", raising=False)


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in (User, Tenant, Membership, Project)}


def test_json_summary_logs_in_and_names_the_demo_objects(client, settings):
    summary = json.loads(bootstrap("--json"))
    assert set(summary) == SUMMARY_KEYS
    assert summary["api_url"] == settings.IMAGEFACTORY_API_URL
    project = Project.objects.get(pk=summary["project_id"])
    assert str(project.tenant_id) == summary["tenant_id"]
    owner = User.objects.get(email=summary["email"])
    assert Membership.objects.get(user=owner, tenant=project.tenant).role.name == "owner"
    assert User.objects.filter(is_superuser=True).exists()
    login = client.post(
        "/api/v1/auth/login",
        {"email": summary["email"], "password": summary["password"]},
        content_type="application/json",
    )
    assert login.status_code == 200, login.content
    projects = client.get(
        "/api/v1/projects",
        HTTP_AUTHORIZATION=f"Bearer {login.json()['access_token']}",
        HTTP_X_TENANT_ID=summary["tenant_id"],
    )
    assert [p["id"] for p in projects.json()["projects"]] == [summary["project_id"]]


def test_is_idempotent(settings):
    first = json.loads(bootstrap("--json"))
    before = counts()
    second = json.loads(bootstrap("--json"))
    assert counts() == before
    assert {k: second[k] for k in ("tenant_id", "project_id", "email")} == {
        k: first[k] for k in ("tenant_id", "project_id", "email")
    }
    assert second["password"] is None  # generated passwords are shown once, never stored in clear


def test_generated_passwords_differ_between_installations():
    first = json.loads(bootstrap("--json"))["password"]
    User.objects.all().delete()
    second = json.loads(bootstrap("--json"))["password"]
    assert first and second and first != second and len(first) >= 12


def test_uses_the_demo_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("IMAGEFACTORY_DEMO_PASSWORD", "from-the-env-123")
    summary = json.loads(bootstrap("--json"))
    assert summary["password"] == "from-the-env-123"
    assert User.objects.get(email=summary["email"]).check_password("from-the-env-123")


def test_plain_output_prints_each_created_password_once():
    output = bootstrap()
    assert output.count("with password") == 2 and "X-Tenant-ID" in output
    assert "with password" not in bootstrap()


def test_the_demo_repository_is_a_real_git_repo_with_dockerfile_and_busybox(settings):
    summary = json.loads(bootstrap("--json"))
    url = Project.objects.get(pk=summary["project_id"]).repository_url
    assert url.startswith("file://")
    repo = Path(url.removeprefix("file://"))
    assert repo.is_relative_to(settings.VAR_DIR)
    tracked = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "main"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"Dockerfile", "rootfs/bin/busybox", "rootfs/proc/.keep"} <= set(tracked)
    dockerfile = subprocess.run(
        ["git", "show", "main:Dockerfile"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    assert dockerfile.lstrip().startswith("FROM scratch") or "\nFROM scratch" in dockerfile
    assert (repo / "rootfs" / "bin" / "busybox").stat().st_mode & 0o111  # executable, as git recorded it
