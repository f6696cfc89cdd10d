"""A project: a git repository with a Dockerfile, and the image repository its builds push to."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from imagefactory.core.crypto import EncryptedSecretsField, EncryptedTextField
from tenants.models import Tenant, TenantManager


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    repository_url = models.CharField(max_length=500)
    default_branch = models.CharField(max_length=255, default="main")
    dockerfile_path = models.CharField(max_length=500, default="Dockerfile")
    build_context = models.CharField(max_length=500, default=".")
    image_repository = models.CharField(max_length=500, blank=True, default="")
    registry_username = EncryptedTextField(blank=True, default="")
    registry_password = EncryptedTextField(blank=True, default="")
    git_username = EncryptedTextField(blank=True, default="")
    git_password = EncryptedTextField(blank=True, default="")
    git_ssh_private_key = EncryptedTextField(blank=True, default="")
    # Build secrets (name -> value) for RUN --mount=type=secret,id=NAME; never shown, never in a layer.
    secrets = EncryptedSecretsField()
    build_timeout_seconds = models.PositiveIntegerField(default=settings.DEFAULT_BUILD_TIMEOUT_SECONDS)
    # Next build_number minus one; bumped under a row lock so numbers never repeat or skip.
    build_counter = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="project_name_unique_in_tenant")]
        indexes = [models.Index(fields=["tenant", "created_at"], name="project_tenant_created")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        """Never writes build_counter back: only create_build moves it (F() + 1 under a row lock).

        A full save() of a stale instance (PATCH, the admin) would otherwise rewind the counter.
        """
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "build_counter"
            ]
        super().save(*args, **kwargs)
