"""A worker (or the embedded server) on a host that cannot sandbox builds refuses to start, and says why."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testing import ROOT, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def unfit_env(tmp_path):
    env = {**os.environ, "DEBUG": "1", "BUILD_OCI_RUNTIME": "no-such-runtime", "IMAGEFACTORY_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def test_the_embedded_server_refuses_to_start(unfit_env):
    server = subprocess.run(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(free_port()), "imagefactory.asgi:application"],
        cwd=ROOT,
        env=unfit_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert server.returncode != 0
    assert "this host cannot run builds" in server.stderr and "'no-such-runtime' is not installed" in server.stderr
    assert "BUILD_ISOLATION=chroot" in server.stderr


def test_a_celery_worker_refuses_to_start(unfit_env):
    unfit_env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # never reached: the worker stops before it connects
    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "imagefactory", "worker", "-Q", "unused", "-c", "1"],
        cwd=ROOT,
        env=unfit_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert worker.returncode != 0
    assert "'no-such-runtime' is not installed" in worker.stdout + worker.stderr
