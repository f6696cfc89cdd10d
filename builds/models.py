"""Projects, builds, build log lines and idempotency records."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from imagefactory.core.crypto import EncryptedTextField
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
            kwargs["update_fields"] = [field.name for field in self._meta.concrete_fields
                                       if not field.primary_key and field.name != "build_counter"]
        super().save(*args, **kwargs)


class BuildStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATES = frozenset({BuildStatus.SUCCESS, BuildStatus.FAILED, BuildStatus.CANCELLED})

# The only legal moves; services apply them as compare-and-swap UPDATEs.
TRANSITIONS: dict[str, frozenset[str]] = {
    "start": frozenset({BuildStatus.QUEUED}),
    "cancel": frozenset({BuildStatus.QUEUED, BuildStatus.IN_PROGRESS}),
    "retry": frozenset({BuildStatus.FAILED, BuildStatus.CANCELLED}),
    "delete": frozenset({BuildStatus.QUEUED, *TERMINAL_STATES}),
    "finish": frozenset({BuildStatus.IN_PROGRESS}),
}


class FailureKind(models.TextChoices):
    BUILD_ERROR = "build_error", "Build error"
    PLATFORM_ERROR = "platform_error", "Platform error"
    TIMEOUT = "timeout", "Timeout"
    WORKER_LOST = "worker_lost", "Worker lost"


class Build(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="builds")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="builds")
    build_number = models.PositiveIntegerField()
    git_branch = models.CharField(max_length=255)
    git_commit = models.CharField(max_length=40, null=True, blank=True)
    build_args = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=BuildStatus, default=BuildStatus.QUEUED)
    error_message = models.TextField(null=True, blank=True)
    failure_kind = models.CharField(max_length=16, choices=FailureKind, null=True, blank=True)
    cancel_reason = models.TextField(null=True, blank=True)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Filled by the engine.
    source_commit = models.CharField(max_length=40, null=True, blank=True)
    current_step = models.PositiveIntegerField(null=True, blank=True)
    total_steps = models.PositiveIntegerField(null=True, blank=True)
    step_name = models.CharField(max_length=500, blank=True, default="")
    image_reference = models.CharField(max_length=700, null=True, blank=True)
    image_digest = models.CharField(max_length=100, null=True, blank=True)
    slot_acquired_at = models.DateTimeField(null=True, blank=True)  # null while waiting for a slot
    worker = models.CharField(max_length=255, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    log_line_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "build_number"], name="build_number_unique_in_project"),
            # A build is retried at most once; further retries go through the newest attempt.
            models.UniqueConstraint(fields=["retry_of"], condition=models.Q(retry_of__isnull=False),
                                    name="build_retried_once"),
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="build_tenant_created"),
            models.Index(fields=["tenant", "status", "created_at"], name="build_tenant_status_created"),
            models.Index(fields=["tenant", "project", "created_at"], name="build_tenant_project_created"),
            models.Index(fields=["status", "heartbeat_at"], name="build_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}#{self.build_number}"


class LogLevel(models.TextChoices):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class BuildLogLine(models.Model):
    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    timestamp = models.DateTimeField()
    level = models.CharField(max_length=5, choices=LogLevel, default=LogLevel.INFO)
    message = models.TextField()
    metadata = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["build", "seq"], name="log_line_seq_unique")]
        ordering = ["seq"]


class IdempotencyRecord(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)  # null while the first request runs
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user", "key"], name="idempotency_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]
