"""`./scripts/serve` (the quick start's first command), run as a new user would: no environment."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess

import psutil
import pytest
import requests

from testing import ROOT, free_port, need, wait_until

pytestmark = [pytest.mark.e2e]

# What a developer's shell would not have set (pytest.ini sets some of these for the test run).
UNSET = {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FILE_REPOSITORY_ROOTS", "HOST", "ALLOWED_HOSTS"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serve")
    need(shutil.which("buildah") is not None, "buildah is not installed (the server checks its sandbox at start)")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(PORT=str(port), IMAGEFACTORY_VAR_DIR=str(tmp_path / "var"), IMAGEFACTORY_DEMO_PASSWORD="demo-password-1")
    output = tmp_path / "serve.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "serve")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, output.read_text()
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(healthy, timeout=180, what=f"scripts/serve on {base}")
        yield process, base, output.read_text(), tmp_path / "var"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_serve_listens_on_this_machine_only_and_prints_the_url_it_serves(served):
    process, base, printed, _ = served
    assert f"ImageFactory on {base}" in printed, printed
    listening = {
        connection.laddr.ip
        for child in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        for connection in child.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == int(base.rsplit(":", 1)[1])
    }
    assert listening == {"127.0.0.1"}


def test_serve_runs_without_debug_and_with_a_private_generated_key(served):
    _, base, _, var = served
    key = var / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) >= 50
    assert key.read_text().strip() not in (ROOT / "imagefactory" / "settings.py").read_text()
    page = requests.get(f"{base}/no-such-page", timeout=10)
    assert page.status_code == 404 and "URLconf" not in page.text  # not Django's DEBUG page


def test_the_demo_project_clones_from_the_one_allowed_root(served):
    _, base, printed, var = served
    login = requests.post(
        f"{base}/api/v1/auth/login",
        json={"email": "user@imagefactory.local", "password": "demo-password-1"},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    tenant = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", printed)
    assert tenant, printed
    headers = {"Authorization": f"Bearer {login.json()['access_token']}", "X-Tenant-ID": tenant.group(0)}
    body = {"name": "copy", "image_repository": "registry.example.com/demo/copy"}
    inside = requests.post(
        f"{base}/api/v1/projects",
        json={**body, "repository_url": f"file://{var}/demo-repo"},
        headers=headers,
        timeout=30,
    )
    outside = requests.post(
        f"{base}/api/v1/projects", json={**body, "repository_url": f"file://{ROOT}/.git"}, headers=headers, timeout=30
    )
    assert inside.status_code == 201, inside.text
    assert outside.status_code == 400 and "repository_url" in outside.json()["details"]
