"""Racing copies of one delivery, under real concurrency on PostgreSQL: one build, the others replay it."""

from __future__ import annotations

from collections import Counter

import pytest

from builds.models import Build
from triggers import services
from triggers.models import Trigger, TriggerDelivery
from triggers.tests.payloads import PAYLOADS, signed

pytestmark = pytest.mark.services

COMMIT = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"


def test_racing_copies_of_one_delivery_make_one_build(
    race_settings, run_concurrently, make_project, tenant, make_trigger
):
    # A repository that cannot exist: if an embedded engine picks the build up, it fails fast.
    project = make_project(tenant, name="race", repository_url="file:///nonexistent/race-hooks.git")
    trigger, secret = make_trigger(project)
    payload = PAYLOADS["github"](repository_url=project.repository_url, commit=COMMIT)
    body, headers = signed("github", secret, payload, delivery="one-delivery")

    def deliver(_):
        fresh = Trigger.objects.select_related("project", "tenant").get(pk=trigger.pk)
        answer = services.receive_delivery(trigger=fresh, body=body, headers=headers)
        return answer.status_code, answer.build.pk

    results = run_concurrently(deliver, 8)

    assert Counter(status for status, _ in results) == {201: 1, 200: 7}
    assert len({build_id for _, build_id in results}) == 1
    assert Build.objects.filter(trigger=trigger).count() == 1
    assert TriggerDelivery.objects.filter(trigger=trigger).count() == 1
