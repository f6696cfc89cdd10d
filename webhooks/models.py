"""Webhook subscriptions of a tenant, the deliveries of build events to them, and each attempt."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from builds.models import Project
from imagefactory.core.crypto import EncryptedTextField
from tenants.models import Tenant, TenantManager

ALL_BUILD_EVENTS = "build.*"


class Subscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)  # event names, or ["build.*"]
    project = models.ForeignKey(Project, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    secret = EncryptedTextField()  # HMAC key; shown once, at creation (and at rotation)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Since when its deliveries fail without a success in between (null: the last one succeeded).
    failing_since = models.DateTimeField(null=True, blank=True)
    # Numbers its deliveries in the order of the events (builds.signals are sent in commit order).
    last_sequence = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str, project_id: object) -> bool:
        if self.project_id is not None and self.project_id != project_id:
            return False
        return ALL_BUILD_EVENTS in self.events or event in self.events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event for one subscription: the exact body, sent until a 2xx answer or given up."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    sequence = models.BigIntegerField()
    event = models.CharField(max_length=40)
    build_id = models.UUIDField()  # no foreign key: the log outlives a deleted build
    body = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    retry_until = models.DateTimeField()  # failed attempts after this give up
    claimed_until = models.DateTimeField(null=True, blank=True)  # a sender holds it until then
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-sequence"]
        constraints = [models.UniqueConstraint(fields=["subscription", "sequence"], name="webhook_delivery_sequence")]
        indexes = [
            models.Index(fields=["subscription", "build_id", "sequence"], name="webhook_delivery_chain"),
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.sequence}"


class AttemptOutcome(models.TextChoices):
    SUCCESS = "success", "Success (2xx)"
    HTTP_ERROR = "http_error", "Answered with an error status"
    NETWORK_ERROR = "network_error", "Connection failed or timed out"
    REFUSED = "refused", "Target refused (address not allowed)"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    address = models.CharField(max_length=64, blank=True, default="")  # the IP connected to (or refused)
    error = models.TextField(blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")  # the first 1 KiB of the answer

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number")]
