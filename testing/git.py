"""Real git repositories for tests, reached as file://, with busybox Dockerfiles (no base image needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from builds.executors.sandbox import MOUNTPOINTS
from testing.tools import need

BUSYBOX = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).exists()), None)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}

# rootfs/ holds busybox and the directories a sandboxed RUN step mounts over (see MOUNTPOINTS).
BUSYBOX_DOCKERFILE = """FROM scratch
COPY rootfs/ /
{body}
"""


class GitRepo:
    """A real git repository in a temp dir, reached as file://."""

    def __init__(self, path: Path, branch: str = "main"):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", f"--initial-branch={branch}")

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=self.path, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    def commit(self, files: dict[str, str | bytes], message: str = "change") -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def commit_dockerfile(self, body: str, message: str = "dockerfile", dockerfile: str = "Dockerfile") -> str:
        """A FROM scratch image with busybox copied in, then `body` (more instructions)."""
        need(BUSYBOX is not None, "busybox-static is not installed")
        rootfs = self.path / "rootfs"
        if not rootfs.exists():
            for mountpoint in MOUNTPOINTS:
                (rootfs / mountpoint).mkdir(parents=True)
                (rootfs / mountpoint / ".keep").touch()  # git keeps no empty directories
            (rootfs / "bin").mkdir()
            shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")  # keeps the executable bit git records
        return self.commit({dockerfile: BUSYBOX_DOCKERFILE.format(body=body)}, message)

    def branch(self, name: str) -> None:
        self.git("checkout", "--quiet", "-B", name)


def run_step(command: str) -> str:
    """A RUN instruction in exec form (scratch images have no /bin/sh)."""
    return f'RUN ["/bin/busybox", "sh", "-c", "{command}"]'
