"""A build the worker cannot even set up fails as a platform error, promptly and without leaks."""

from __future__ import annotations

import threading

import pytest
from django.utils import timezone

from builds.runner import engine

pytestmark = pytest.mark.django_db(transaction=True)  # the log sink writes from its own thread


def _unusable_workspace_root(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.BUILD_WORKSPACE_ROOT = blocker / "workspaces"


def _unknown_executor(settings, tmp_path):
    settings.BUILD_EXECUTOR = "builds.executors.kubernetes.KubernetesExecutor"


@pytest.mark.parametrize("break_setup", [_unusable_workspace_root, _unknown_executor])
def test_setup_failure_is_a_platform_error_with_a_last_line(project, make_build, settings, tmp_path, break_setup):
    break_setup(settings, tmp_path)
    build = make_build(project, status="in_progress", started_at=timezone.now())

    assert engine.run_next_builds() == 1

    build.refresh_from_db()
    assert (build.status, build.failure_kind) == ("failed", "platform_error"), build.error_message
    assert build.error_message.startswith("the worker could not set up the build")
    assert list(build.log_lines.values_list("message", flat=True))[-1] == f"Build failed: {build.error_message}"
    assert not [t for t in threading.enumerate() if t.name == f"logsink-{build.pk}" and t.is_alive()]
