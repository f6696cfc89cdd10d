"""A redis-server of a test's own, on a free port: for faults (stopped and started again) that must
not touch the Redis the other tests share."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from testing.tools import need
from testing.util import free_port, wait_until


class RedisServer:
    """`redis-server` on 127.0.0.1:<free port>, no persistence: a restart comes back empty, as after a crash."""

    def __init__(self, workdir: Path):
        need(shutil.which("redis-server") is not None, "redis-server is not installed (apt-get install redis-server)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        log = open(self.workdir / "redis.log", "ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._answers, timeout=30, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
