"""A full disk under a worker: the workspace and the layer storage on a small tmpfs of their own.

The build ends failed/platform_error saying the disk is full; its checkout, working containers and
intermediate images are gone; and the next build on the same worker succeeds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from testing import Stack, StackClient, need, run_step, unique_token

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]

DISK_MIB = 40


@pytest.fixture
def small_disk(tmp_path):
    """A DISK_MIB tmpfs mounted under the test's temp dir (unmounted at the end)."""
    need(os.geteuid() == 0, "mounting a tmpfs needs root")
    need(shutil.which("mount") is not None, "mount is not installed")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=True)


@pytest.fixture
def disk_stack(buildah, transactional_db, tmp_path, small_disk):
    """A stack whose workspaces and layer storage are on the small disk."""
    running = Stack(
        tmp_path / "stack",
        extra_env={
            "BUILD_WORKSPACE_ROOT": str(small_disk / "workspaces"),
            "BUILDAH_STORAGE_ROOT": str(small_disk / "storage"),
            "BUILDAH_RUN_ROOT": str(small_disk / "run"),
            "BUILD_LOST_AFTER_SECONDS": "120",  # a loaded CI host must not make the janitor reap a live build
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture
def client(disk_stack, owner, tenant):
    return StackClient(disk_stack, owner, tenant)


def buildah_list(disk: Path, tenant, what: str) -> list[str]:
    """The ids `buildah containers|images -a` lists in the tenant's layer storage on the disk."""
    root, run_root = disk / "storage" / str(tenant.pk), disk / "run" / str(tenant.pk)
    result = subprocess.run(
        ["buildah", "--storage-driver", "vfs", "--root", str(root), "--runroot", str(run_root), what, "-a", "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def used_mib(disk: Path) -> float:
    return shutil.disk_usage(disk).used / 1024**2


def assert_disk_full_failure(client: StackClient, done: dict) -> None:
    outcome = (done["status"], done["failure_kind"], done["error_message"], client.log_messages(done["id"])[-12:])
    assert done["status"] == "failed", outcome
    assert done["failure_kind"] == "platform_error", outcome
    assert "disk is full" in done["error_message"] and "no space left on device" in done["error_message"], outcome


def build_and_wait(client: StackClient, project, git_repo, *commands: str) -> dict:
    git_repo.commit_dockerfile("\n".join(run_step(command) for command in commands), message=unique_token())
    build = client.create_build(project)
    client.start(build["id"])
    return client.wait_for(build["id"], timeout=240)


def assert_next_build_succeeds(client: StackClient, project, git_repo) -> None:
    greeting = f"after-full-disk-{unique_token()}"
    done = build_and_wait(client, project, git_repo, f"echo {greeting}")
    assert done["status"] == "success", (done, client.log_messages(done["id"])[-10:])
    assert greeting in client.log_messages(done["id"])


def assert_same_worker_lives(stack: Stack) -> None:
    assert stack.server.poll() is None, stack.logs()
    if stack.services:
        assert len(stack.workers) == 1 and stack.workers[0].poll() is None, stack.logs()


def test_layer_storage_filled_by_a_step_is_emptied_and_the_next_build_runs(
    disk_stack, client, small_disk, tenant, engine_project, git_repo
):
    project = engine_project()
    # A step that writes more than the whole disk: buildah's layer storage fills up under it.
    fill = f"dd if=/dev/zero of=/etc/filler bs=1M count={DISK_MIB * 2}"
    done = build_and_wait(client, project, git_repo, f"echo {unique_token()}", fill)
    assert_disk_full_failure(client, done)
    assert not list((small_disk / "workspaces").glob(f"build-{done['id']}-*")), "the checkout was left behind"
    assert buildah_list(small_disk, tenant, "containers") == []
    assert buildah_list(small_disk, tenant, "images") == []
    # buildah's own bookkeeping left aside, nothing of the build holds the disk (it held all of it).
    assert used_mib(small_disk) < 4, sorted(str(p) for p in small_disk.rglob("*"))[:50]

    assert_next_build_succeeds(client, project, git_repo)
    assert_same_worker_lives(disk_stack)


def test_workspace_on_a_full_disk_fails_the_checkout_and_the_next_build_runs(
    disk_stack, client, small_disk, tenant, engine_project, git_repo
):
    project = engine_project()
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as handle:  # the disk, full to the last byte
        chunk = b"\0" * 1024 * 1024
        try:
            while handle.write(chunk):
                pass
        except OSError:
            pass
    done = build_and_wait(client, project, git_repo, f"echo {unique_token()}")
    assert_disk_full_failure(client, done)
    assert not list((small_disk / "workspaces").glob(f"build-{done['id']}-*")), "the checkout was left behind"

    filler.unlink()  # the operator frees the disk
    assert_next_build_succeeds(client, project, git_repo)
    assert_same_worker_lives(disk_stack)
