"""Project writes."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from builds.models import Build, BuildStatus, Project
from builds.validators import registry_host, repository_host
from imagefactory.core.errors import Conflict
from tenants.models import Tenant

GIT_CREDENTIALS = ("git_username", "git_password", "git_ssh_private_key")
REGISTRY_CREDENTIALS = ("registry_username", "registry_password")


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


def _registry_of(image_repository: str) -> str:
    return registry_host(image_repository) if image_repository else ""


def _unbound_credentials(current: Project, fields: dict[str, Any]) -> dict[str, str]:
    """Credentials are bound to the host they were given for: a new host drops those not given anew.

    Otherwise whoever may edit a project could point it at a host they control and have the next
    build send the stored password there.
    """
    dropped: dict[str, str] = {}
    new_url = fields.get("repository_url", current.repository_url)
    if repository_host(new_url) != repository_host(current.repository_url):
        dropped.update({name: "" for name in GIT_CREDENTIALS if name not in fields})
    new_repository = fields.get("image_repository", current.image_repository)
    if _registry_of(new_repository) != _registry_of(current.image_repository):
        dropped.update({name: "" for name in REGISTRY_CREDENTIALS if name not in fields})
    return dropped


def update_project(*, project: Project, **fields: Any) -> Project:
    try:
        with transaction.atomic():
            current = Project.objects.select_for_update().get(pk=project.pk)
            fields.update(_unbound_credentials(current, fields))
            for name, value in fields.items():
                setattr(project, name, value)
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
