"""A project's build triggers (incoming push hooks) and the log of their recent deliveries."""

from __future__ import annotations

import uuid

from django.db import models

from builds.models import Build, Project
from imagefactory.core.crypto import EncryptedTextField
from tenants.models import Tenant, TenantManager

# What the delivery log keeps per trigger (GitHub's "Recent Deliveries" shows about as many).
DELIVERIES_KEPT = 100


class TriggerKind(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GITEA = "gitea", "Gitea / Forgejo"
    GENERIC = "generic", "Generic (X-ImageFactory-Signature)"


class Trigger(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="triggers")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="triggers")
    kind = models.CharField(max_length=16, choices=TriggerKind)
    branch_patterns = models.JSONField(default=list)
    build_args = models.JSONField(default=dict, blank=True)
    cancel_superseded = models.BooleanField(default=True)
    # Encrypted, not hashed: every delivery's HMAC is recomputed with it. Shown once, when made.
    secret = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "project", "created_at"], name="trigger_tenant_project")]

    def __str__(self) -> str:
        return f"{self.kind} trigger of {self.project_id}"


class DeliveryOutcome(models.TextChoices):
    BUILT = "built", "Build created and started"
    PING = "ping", "Ping answered"
    IGNORED = "ignored", "Ignored (no build)"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Build refused"


class TriggerDelivery(models.Model):
    """One signed delivery (unsigned ones leave no trace). (trigger, delivery_id) is unique: a
    redelivery, or two racing copies of one, make one build."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=100)
    event = models.CharField(max_length=100, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=DeliveryOutcome)
    status_code = models.PositiveSmallIntegerField()
    message = models.CharField(max_length=500, blank=True, default="")
    branch = models.CharField(max_length=255, blank=True, default="")
    commit = models.CharField(max_length=64, blank=True, default="")
    pusher = models.CharField(max_length=255, blank=True, default="")
    build = models.ForeignKey(Build, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    delivered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trigger", "delivery_id"], name="trigger_delivery_once"),
        ]
        indexes = [models.Index(fields=["trigger", "-delivered_at"], name="trigger_delivery_recent")]

    def __str__(self) -> str:
        return f"{self.delivery_id} ({self.outcome})"
