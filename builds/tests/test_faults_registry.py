"""The registry going away in the middle of a push: the build fails as the platform's fault, naming it."""

from __future__ import annotations

import pytest

from testing import Registry, Stack, StackClient, TcpProxy, run_step, unique_token, wait_until

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


@pytest.fixture
def client(buildah, transactional_db, tmp_path, owner, tenant):
    """A stack of its own whose janitor waits long before it calls a build lost (a loaded CI host)."""
    running = Stack(tmp_path / "stack", extra_env={"BUILD_LOST_AFTER_SECONDS": "120"}).start()
    yield StackClient(running, owner, tenant)
    running.stop()


@pytest.fixture
def registry_behind_a_proxy(tmp_path):
    """A registry of the test's own, reached through a proxy that can make it vanish mid-push."""
    registry = Registry(tmp_path / "registry")
    proxy = TcpProxy(registry.port)
    yield registry, proxy
    proxy.close()
    if registry.process.poll() is None:
        registry.stop()


def test_registry_stopped_during_a_push_fails_the_build_naming_the_registry(
    client, engine_project, git_repo, registry_behind_a_proxy
):
    registry, proxy = registry_behind_a_proxy
    host = f"127.0.0.1:{proxy.port}"
    git_repo.commit_dockerfile(run_step(f"echo pushed-{unique_token()}"))
    # The first blob upload is the last request that gets through: the push has begun, and then
    # the registry is gone (its connections dropped, new ones closed, the process stopped).
    proxy.go_dark_at(b"POST /v2/")
    build = client.create_build(engine_project(image_repository=f"{host}/faults/app"))
    client.start(build["id"])
    wait_until(lambda: proxy.dark, timeout=240, what="the push to begin")
    registry.stop()

    done = client.wait_for(build["id"], timeout=240)

    assert done["status"] == "failed", (done, client.log_messages(build["id"])[-10:])
    assert done["failure_kind"] == "platform_error", done
    assert done["error_message"].startswith(f"step push: pushing to {host} failed"), done["error_message"]
    assert done["image_digest"] is None
    assert proxy.requests_starting(b"GET /v2/"), "the push never reached the registry"
