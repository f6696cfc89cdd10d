"""examples/curl-examples.sh runs end to end against a live server: a real repository, buildah, a registry."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from builds.models import Build, Project
from testing import ROOT, need

pytestmark = [pytest.mark.e2e, pytest.mark.buildah]

SCRIPT = ROOT / "examples" / "curl-examples.sh"
PASSWORD = "curl-example-password-1"


@pytest.fixture
def run_example(stack, transactional_db):
    need(shutil.which("curl") is not None, "curl is not installed")

    def run(**env: str) -> subprocess.CompletedProcess:
        # Only what the script reads: no variable of the test process leaks in (e.g. a real token).
        clean = {key: value for key, value in os.environ.items() if not key.startswith("IMAGEFACTORY_")}
        return subprocess.run(
            ["bash", str(SCRIPT)],
            env={**clean, "IMAGEFACTORY_URL": stack.base_url, "IMAGEFACTORY_TIMEOUT": "240", **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


@pytest.fixture
def login_password(settings, owner):
    """The owner's password, hashed with a hasher the server process knows (tests hash with MD5)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    owner.set_password(PASSWORD)
    owner.save(update_fields=["password"])
    return PASSWORD


def test_every_step_succeeds_and_the_image_is_pushed(
    run_example, stack, owner, login_password, tenant, git_repo, registry
):
    result = run_example(
        IMAGEFACTORY_EMAIL=owner.email,
        IMAGEFACTORY_PASSWORD=login_password,
        IMAGEFACTORY_TENANT=str(tenant.pk),
        IMAGEFACTORY_REPOSITORY_URL=git_repo.url,
        IMAGEFACTORY_IMAGE_REPOSITORY=f"{registry.host}/examples/app",
    )

    print(result.stdout, result.stderr)  # shown by pytest on failure, and with -s
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{stack.logs()}"
    project = Project.objects.get(tenant=tenant, name="curl-example")  # created, as the script was told
    built = Build.objects.get(project=project, status="success")
    repository, tag = built.image_reference.rsplit(":", 1)
    assert repository == f"{registry.host}/examples/app"
    assert registry.manifest_digest("examples/app", tag) == built.image_digest
    # The second build was cancelled, retried, and both deleted: only the successful one is left.
    assert list(Build.objects.filter(project=project)) == [built]
    assert "done: build" in result.stderr


def test_a_failed_step_stops_the_script_with_the_error_envelope(run_example, stack, tenant):
    result = run_example(
        IMAGEFACTORY_URL=f"{stack.base_url}/api/v1/",  # the API root is accepted as well as the server root
        IMAGEFACTORY_TOKEN="not-a-token",
        IMAGEFACTORY_TENANT=str(tenant.pk),
    )

    assert result.returncode != 0
    assert '"code"' in result.stderr and '"trace_id"' in result.stderr
    assert "failed: GET /projects" in result.stderr
    assert not Project.objects.filter(tenant=tenant).exists()
