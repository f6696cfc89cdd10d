"""The server stack of end-to-end tests: daphne (and Celery workers) on the test database, and a client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

from testing.assertions import access_token_for
from testing.util import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def database_url_for_subprocess() -> str:
    """The test database pytest-django created, as a DATABASE_URL for server/worker processes."""
    cfg = connection.settings_dict
    if cfg["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{cfg['NAME']}"
    auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else "")
    return f"postgres://{auth}@{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT'] or 5432}/{cfg['NAME']}"


FAST_ENGINE_ENV = {
    "BUILD_HEARTBEAT_SECONDS": "1",
    "BUILD_CANCEL_POLL_SECONDS": "0.5",
    "BUILD_KILL_GRACE_SECONDS": "2",
    "BUILD_LOST_AFTER_SECONDS": "8",
    "BUILD_REAPER_INTERVAL_SECONDS": "2",
    "STREAM_STATUS_POLL_SECONDS": "2",
    "RATE_LIMIT_REQUESTS": "100000",  # tests poll status; the limiter has its own tests
    "STREAM_MAX_CONNECTIONS_PER_USER": "1000",  # a hundred clients of one user; the cap has its own tests
    "BUILD_PIDS_LIMIT": "512",  # a fork bomb meets the limit fast
}


class Stack:
    """daphne serving the API (and, with REDIS_URL, Celery workers), on the test database.

    Embedded mode: daphne alone runs builds (and webhook deliveries) in its in-process pools. Services
    mode: daphne plus a `celery -A imagefactory worker -Q builds,webhooks` process, all sharing
    PostgreSQL and Redis.
    """

    def __init__(self, workdir: Path, *, extra_env: dict[str, str] | None = None, redis_url: str | None = None):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.services = settings.SERVICES_MODE
        prefix = f"t{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            "DEBUG": "1",
            "SECRET_KEY": settings.SECRET_KEY,
            "BUILD_WORKSPACE_ROOT": str(workdir / "workspaces"),
            "BUILDAH_STORAGE_ROOT": str(ROOT / "var" / "test-buildah" / "storage"),
            "BUILDAH_RUN_ROOT": str(ROOT / "var" / "test-buildah" / "run"),
            "CHANNEL_PREFIX": prefix,
            "CACHE_KEY_PREFIX": prefix,
            "LOG_LEVEL": "INFO",
            **FAST_ENGINE_ENV,
            **(extra_env or {}),
        }
        if self.services:
            self.env["REDIS_URL"] = redis_url or settings.REDIS_URL
        else:
            self.env.pop("REDIS_URL", None)
        self.port = free_port()
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.queue = f"builds-{prefix}" if self.services else "builds"
        self.env["BUILD_QUEUE"] = self.queue
        self.webhook_queue = f"webhooks-{prefix}" if self.services else "webhooks"
        self.env["WEBHOOK_QUEUE"] = self.webhook_queue

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")
        return subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self) -> Stack:
        self.start_server()
        if self.services:
            self.start_worker()
        return self

    def start_server(self) -> None:
        self.server = self._spawn(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--ping-interval",
                "5",
                "--ping-timeout",
                "10",
                "imagefactory.asgi:application",
            ],
            "daphne.log",
        )
        wait_until(self._healthy, timeout=30, what=f"daphne on {self.base_url} (log: {self.workdir}/daphne.log)")

    def start_worker(self, *, concurrency: int = 4) -> subprocess.Popen:
        name = f"w{len(self.workers)}-{uuid.uuid4().hex[:6]}@%h"
        worker = self._spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "imagefactory",
                "worker",
                "-Q",
                f"{self.queue},{self.webhook_queue}",
                "-c",
                str(concurrency),
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            f"worker{len(self.workers)}.log",
        )
        self.workers.append(worker)
        wait_until(
            lambda: b"ready" in (self.workdir / f"worker{len(self.workers) - 1}.log").read_bytes(),
            timeout=60,
            what="the Celery worker to be ready",
        )
        return worker

    def _healthy(self) -> bool:
        if self.server is not None and self.server.poll() is not None:
            raise AssertionError(f"daphne exited: {(self.workdir / 'daphne.log').read_text()[-3000:]}")
        try:
            return requests.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def restart_server(self) -> None:
        """SIGKILL daphne's process group (in embedded mode: the worker too) and start it again, same port."""
        assert self.server is not None
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=10)
        self.start_server()

    def workspaces(self, build_id: str) -> list[Path]:
        """The build's temp workspace directories still on disk (the engine removes them at the end)."""
        return sorted((self.workdir / "workspaces").glob(f"build-{build_id}-*"))

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """SIGKILL the worker's whole process group (main process and pool children)."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def stop(self) -> None:
        for process in [*self.workers, self.server]:
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=15)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.workdir.glob("*.log"))
        )


class StackClient:
    """requests against a running Stack, as `user` in `tenant`, with the guide's headers."""

    def __init__(self, stack: Stack, user=None, tenant=None):
        self.stack = stack
        self.session = requests.Session()
        if user is not None:
            self.token = access_token_for(user)
            self.session.headers["Authorization"] = f"Bearer {self.token}"
        if tenant is not None:
            self.tenant_id = str(tenant.pk)
            self.session.headers["X-Tenant-ID"] = self.tenant_id

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.stack.base_url}/api/v1{path}", **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def create_build(self, project, **body) -> dict:
        body.setdefault("git_branch", "main")
        response = self.post("/builds", json={"project_id": str(project.pk), **body})
        assert response.status_code == 201, response.text
        return response.json()

    def start(self, build_id: str) -> dict:
        response = self.post(f"/builds/{build_id}/start")
        assert response.status_code == 200, response.text
        return response.json()

    def build(self, build_id: str) -> dict:
        return self.get(f"/builds/{build_id}").json()

    def wait_for(self, build_id: str, *statuses: str, timeout: float = 120) -> dict:
        statuses = statuses or ("success", "failed", "cancelled")

        def reached():
            build = self.build(build_id)
            return build if build["status"] in statuses else None

        try:
            return wait_until(reached, timeout=timeout, interval=0.2, what=f"build {build_id} to be {statuses}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last: {self.build(build_id)}\n{self.stack.logs()}") from None

    def log_entries(self, build_id: str) -> list[dict]:
        """Every stored log line of the build, as the /logs API renders it."""
        lines, offset = [], 0
        while True:
            page = self.get(f"/builds/{build_id}/logs", params={"offset": offset, "limit": 1000}).json()
            lines += page["logs"]
            offset += len(page["logs"])
            if not page["logs"] or offset >= page["total_lines"]:
                return lines

    def log_messages(self, build_id: str) -> list[str]:
        return [entry["message"] for entry in self.log_entries(build_id)]
