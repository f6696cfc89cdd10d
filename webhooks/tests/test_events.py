"""Build changes become deliveries: which events, for which subscriptions, with what body."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from builds.models import FailureKind
from builds.runner import reports
from builds.runner.janitor import reap_lost_builds
from builds.services import builds as build_services
from builds.states import Phase, transition
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def events_of(subscription) -> list[str]:
    return list(Delivery.objects.filter(subscription=subscription).order_by("sequence").values_list("event", flat=True))


def test_the_lifecycle_of_a_successful_build(subscribe, tenant, project, owner):
    subscription = subscribe()

    build = build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    build_services.start_build(build=build, user=owner)
    assert transition(build.pk, to=Phase.RUNNING)  # the slot: still in_progress, no event
    assert reports.finish(build_id=build.pk, outcome=Phase.SUCCESS)

    assert events_of(subscription) == ["build.created", "build.started", "build.succeeded"]
    sequences = list(Delivery.objects.filter(subscription=subscription).values_list("sequence", flat=True))
    assert sorted(sequences) == [1, 2, 3]


def test_the_body_holds_the_build_exactly_as_the_api_shows_it(subscribe, tenant, project, owner, owner_api):
    subscribe()

    build = build_services.create_build(
        tenant=tenant, project=project, user=owner, git_branch="main", build_args={"A": "1"}
    )
    delivery = Delivery.objects.get(build_id=build.pk)
    body = json.loads(delivery.body)

    assert set(body) == {"event", "delivery_id", "timestamp", "build"}
    assert (body["event"], body["delivery_id"]) == ("build.created", str(delivery.pk))
    assert body["build"] == owner_api.get(f"/api/v1/builds/{build.pk}").json()


def test_cancelled_while_running_failed_and_reaped_builds(subscribe, tenant, project, owner, make_build):
    subscription = subscribe(events=["build.cancelled", "build.failed"])
    now = timezone.now()
    running = {"status": "in_progress", "started_at": now, "slot_acquired_at": now, "heartbeat_at": now}
    cancelled = make_build(project, **running)
    failed = make_build(project, **running)
    lost = make_build(project, **{**running, "heartbeat_at": now - timedelta(hours=1)})

    build_services.cancel_build(build=cancelled, user=owner)
    reports.finish(build_id=failed.pk, outcome=Phase.FAILED, failure_kind=FailureKind.BUILD_ERROR)
    reaped = reap_lost_builds(lost_before=now - timedelta(minutes=1))

    assert [build.pk for build in reaped] == [lost.pk]
    deliveries = Delivery.objects.filter(subscription=subscription)
    assert {(d.build_id, d.event) for d in deliveries} == {
        (cancelled.pk, "build.cancelled"),
        (failed.pk, "build.failed"),
        (lost.pk, "build.failed"),
    }
    assert json.loads(deliveries.get(build_id=lost.pk).body)["build"]["failure_kind"] == "worker_lost"


def test_a_queued_build_cancelled_announces_cancelled(subscribe, tenant, project, owner):
    subscription = subscribe(events=["build.cancelled"])
    build = build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")

    build_services.cancel_build(build=build, user=owner)

    assert events_of(subscription) == ["build.cancelled"]


def test_a_lost_race_announces_nothing(subscribe, project, make_build):
    subscription = subscribe()
    build = make_build(project, status="success")

    assert not transition(build.pk, to=Phase.CANCELLED)
    assert events_of(subscription) == []


def test_event_project_tenant_and_active_filters(subscribe, tenant, project, owner, make_project, make_tenant):
    other_project = make_project(tenant, name="other")
    only_failures = subscribe(events=["build.failed"])
    only_other_project = subscribe(project=other_project)
    this_project = subscribe(events=["build.created", "build.started"], project=project)
    off = subscribe()
    off.is_active = False
    off.save()
    foreign = subscribe(tenant_=make_tenant("elsewhere"))

    build = build_services.create_build(tenant=tenant, project=project, user=owner, git_branch="main")
    build_services.start_build(build=build, user=owner)

    assert events_of(this_project) == ["build.created", "build.started"]
    assert events_of(only_failures) == events_of(only_other_project) == events_of(off) == events_of(foreign) == []
