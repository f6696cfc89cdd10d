"""A real `docker-registry` on a free loopback port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import requests

from testing.tools import need
from testing.util import free_port, wait_until


class Registry:
    """A real `docker-registry` on a free loopback port."""

    def __init__(self, workdir: Path):
        need(shutil.which("docker-registry") is not None, "docker-registry is not installed")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._up, timeout=20, what="docker-registry to listen")

    def _up(self) -> bool:
        try:
            return requests.get(f"http://{self.host}/v2/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        response = requests.head(
            f"http://{self.host}/v2/{repository}/manifests/{tag}",
            timeout=5,
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json, "
                "application/vnd.docker.distribution.manifest.v2+json"
            },
        )
        return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None

    def tags(self, repository: str) -> list[str]:
        response = requests.get(f"http://{self.host}/v2/{repository}/tags/list", timeout=5)
        return sorted(response.json().get("tags") or []) if response.status_code == 200 else []

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
