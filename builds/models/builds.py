"""A build of a project: what was asked (branch, commit, args), where it stands, and what it produced.

Its status moves only through builds/states.py.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from builds.models.projects import Project
from tenants.models import Tenant, TenantManager


class BuildStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


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
    git_commit = models.CharField(max_length=64, null=True, blank=True)  # SHA-1 or SHA-256, or a prefix
    build_args = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=BuildStatus, default=BuildStatus.QUEUED)
    error_message = models.TextField(null=True, blank=True)
    failure_kind = models.CharField(max_length=16, choices=FailureKind, null=True, blank=True)
    cancel_reason = models.TextField(null=True, blank=True)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Set when a push hook made the build (triggers/): which trigger, which delivery, who pushed.
    # By name, not import: the triggers app sits above builds and builds never imports it.
    trigger = models.ForeignKey(
        "triggers.Trigger", on_delete=models.SET_NULL, null=True, blank=True, related_name="builds"
    )
    trigger_delivery_id = models.CharField(max_length=100, null=True, blank=True)
    triggered_by = models.CharField(max_length=255, null=True, blank=True)
    # Filled by the engine.
    source_commit = models.CharField(max_length=64, null=True, blank=True)
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
            models.UniqueConstraint(
                fields=["retry_of"], condition=models.Q(retry_of__isnull=False), name="build_retried_once"
            ),
        ]
        indexes = [
            # The build list: each sort order the API offers (builds/api/filters.py SORT_FIELDS, with id
            # breaking ties), for the tenant alone, by status and by project; an index read backwards
            # serves the descending order. docs/performance.md shows the plans.
            *(
                models.Index(fields=[*prefix, field, "id"], name=f"build_{'_'.join(prefix)}_{short}")
                for field, short in (("created_at", "created"), ("updated_at", "updated"), ("build_number", "number"))
                for prefix in (["tenant"], ["tenant", "status"], ["tenant", "project"])
            ),
            models.Index(fields=["status", "heartbeat_at"], name="build_status_heartbeat"),
            # The scheduler's "served longest ago" (builds/runner/scheduler.py): one index seek per tenant.
            models.Index(fields=["tenant", "-slot_acquired_at"], name="build_tenant_last_slot"),
            # The scheduler's lines (Phase.WAITING and Phase.RUNNING, written out: models cannot import
            # builds.states): a tenant's longest-waiting build is one seek however many builds wait,
            # and counting running builds never reads the waiting ones.
            models.Index(
                fields=["tenant", "started_at", "id"],
                condition=models.Q(status="in_progress", slot_acquired_at__isnull=True),
                name="build_waiting_line",
            ),
            models.Index(
                fields=["tenant"],
                condition=models.Q(status="in_progress", slot_acquired_at__isnull=False),
                name="build_running",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}#{self.build_number}"
