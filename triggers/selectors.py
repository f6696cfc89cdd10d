"""Trigger reads: a project's triggers, a trigger's recent deliveries, the builds a push supersedes."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from builds.models import Build, BuildStatus, Project
from tenants.models import Tenant
from triggers.models import Trigger, TriggerDelivery


def triggers_for(tenant: Tenant, project: Project) -> QuerySet[Trigger]:
    return Trigger.objects.for_tenant(tenant).filter(project=project).order_by("created_at", "id")


def trigger_for_hook(trigger_id: uuid.UUID) -> Trigger | None:
    """The hook endpoint's lookup: no tenant yet, the id (and then the signature) says which trigger."""
    return Trigger.objects.select_related("project", "tenant").filter(pk=trigger_id).first()


def deliveries_of(trigger: Trigger) -> QuerySet[TriggerDelivery]:
    """Newest first; the service keeps at most DELIVERIES_KEPT of them."""
    return TriggerDelivery.objects.filter(trigger=trigger).order_by("-delivered_at", "-id")


def recent_deliveries_of(triggers: list[Trigger], *, per_trigger: int) -> dict[Any, list[TriggerDelivery]]:
    """The newest `per_trigger` deliveries of each trigger (the web page's table), in one query."""
    rows = TriggerDelivery.objects.filter(trigger__in=triggers).order_by("trigger_id", "-delivered_at", "-id")
    found: dict[Any, list[TriggerDelivery]] = {trigger.pk: [] for trigger in triggers}
    for row in rows:
        if len(found[row.trigger_id]) < per_trigger:
            found[row.trigger_id].append(row)
    return found


def superseded_builds(trigger: Trigger, newer: Build) -> QuerySet[Build]:
    """The trigger's earlier builds of the same branch that no worker runs yet (queued or waiting)."""
    return Build.objects.filter(
        trigger=trigger,
        git_branch=newer.git_branch,
        build_number__lt=newer.build_number,
        status__in=[BuildStatus.QUEUED, BuildStatus.IN_PROGRESS],
        slot_acquired_at__isnull=True,
    ).order_by("build_number")
