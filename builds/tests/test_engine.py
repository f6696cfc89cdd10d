"""The engine end to end: real git, buildah, registry, server (and Celery worker in services mode)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.buildah, pytest.mark.e2e]


def test_build_pushes_image_and_records_registry_digest(member_client, registry_project, registry, buildah):
    build = member_client.create_build(registry_project, build_args={"GREETING": "from-the-api"})
    member_client.start(build["id"])

    done = member_client.wait_for(build["id"])

    assert done["status"] == "success", f"{done['error_message']}: {member_client.log_messages(build['id'])[-8:]}"
    assert done["image_reference"] == f"{registry.host}/acme/app:build-{done['build_number']}"
    assert done["image_digest"] == registry.manifest_digest("acme/app", f"build-{done['build_number']}")
    assert done["image_digest"].startswith("sha256:")
    assert {"build-1", "main", "latest", done["source_commit"][:12]} <= set(registry.tags("acme/app"))
    messages = member_client.log_messages(build["id"])
    assert "greeting=from-the-api" in messages
    assert done["current_step"] == done["total_steps"] == 1 + 4 + 1  # clone, FROM COPY ARG RUN, push
