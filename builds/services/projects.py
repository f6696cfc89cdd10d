"""Project writes."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from builds.models import Build, BuildStatus, Project
from imagefactory.core.errors import Conflict
from tenants.models import Tenant


def _name_taken(name: str) -> Conflict:
    return Conflict(
        "A project with this name already exists in the tenant", details={"name": f"'{name}' is already used."}
    )


def create_project(*, tenant: Tenant, **fields: Any) -> Project:
    try:
        with transaction.atomic():
            return Project.objects.create(tenant=tenant, **fields)
    except IntegrityError:
        raise _name_taken(fields.get("name", "")) from None


def update_project(*, project: Project, **fields: Any) -> Project:
    for name, value in fields.items():
        setattr(project, name, value)
    try:
        with transaction.atomic():
            # Only what the request changed: two PATCHes of different fields both stick.
            project.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise _name_taken(fields.get("name", project.name)) from None
    return project


@transaction.atomic
def delete_project(*, project: Project) -> None:
    locked = Project.objects.select_for_update().get(pk=project.pk)
    running = Build.objects.filter(project=locked, status=BuildStatus.IN_PROGRESS).count()
    if running:
        raise Conflict(
            "The project has running builds; cancel them first",
            details={"reason": "builds_running", "running_builds": running},
        )
    locked.delete()
