"""BuildSerializer writes its fields out by hand (speed); it must say exactly what DRF's walk says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import serializers

from builds.api.serializers import BuildSerializer
from builds.models import BuildStatus, FailureKind


def drf_representation(build) -> dict:
    """What ModelSerializer renders from the declared fields, without the hand-written shortcut."""
    return serializers.ModelSerializer.to_representation(BuildSerializer(), build)


@pytest.mark.django_db
def test_a_fresh_build_renders_as_drf_would(make_build, project):
    build = make_build(project)
    assert BuildSerializer(build).data == drf_representation(build)
    assert BuildSerializer(build).data["started_at"] is None


@pytest.mark.django_db
def test_every_field_set_renders_as_drf_would(make_build, project):
    original = make_build(project, status="failed")
    build = make_build(
        project,
        status="failed",
        git_commit="a" * 40,
        source_commit="b" * 40,
        build_args={"VERSION": "1.2", "EMPTY": ""},
        error_message="step 2 failed",
        failure_kind=FailureKind.BUILD_ERROR,
        cancel_reason="",
        retry_of=original,
        trigger_delivery_id="delivery-1",
        triggered_by="octocat",
        current_step=2,
        total_steps=3,
        step_name="RUN make",
        image_reference="registry.example.com/app:build-2",
        image_digest="sha256:" + "c" * 64,
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: isoformat leaves them out
        completed_at=datetime(2026, 1, 2, 3, 5, 6, 789, tzinfo=UTC),
    )
    build.refresh_from_db()
    data = BuildSerializer(build).data
    assert data == drf_representation(build)
    assert data["trigger"] == {"trigger_id": None, "delivery_id": "delivery-1", "triggered_by": "octocat"}
    assert data["started_at"] == "2026-01-02T03:04:05Z"


@pytest.mark.django_db
def test_values_set_in_memory_render_as_plain_strings(make_build, project):
    """transition() leaves enum members on the instance it returns; the answer holds their values."""
    build = make_build(project)
    build.status = BuildStatus.FAILED
    build.failure_kind = FailureKind.BUILD_ERROR
    build.completed_at = datetime(2026, 1, 2, 5, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))  # not in UTC
    data = BuildSerializer(build).data
    assert data == drf_representation(build)
    assert type(data["status"]) is str and data["status"] == "failed"
    assert type(data["failure_kind"]) is str
    assert data["completed_at"] == "2026-01-02T03:00:00.000005Z"


@pytest.mark.django_db
def test_a_list_renders_each_build_as_drf_would(make_build, project):
    builds = [make_build(project, build_args={"N": str(n)}) for n in range(3)]
    assert BuildSerializer(builds, many=True).data == [drf_representation(build) for build in builds]
