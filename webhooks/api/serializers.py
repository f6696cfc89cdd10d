"""Shapes of /webhooks: validate input, render output, nothing more."""

from __future__ import annotations

from urllib.parse import urlsplit

from rest_framework import serializers

from builds.signals import EVENTS
from imagefactory.core.serializers import StrictCharField, StrictSerializer, StrictUUIDField
from webhooks.models import ALL_BUILD_EVENTS, Delivery, DeliveryAttempt, Subscription

EVENT_CHOICES = [*EVENTS, ALL_BUILD_EVENTS]
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# http(s), a host name or IPv4 address, an optional port, printable ASCII after it; no user:password@.
TARGET_URL = rf"^https?://{_LABEL}(?:\.{_LABEL})*\.?(?::{_PORT})?(?:[/?#][!-~]*)?$"


def target_url_error(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// targets are allowed."
    if "@" in parts.netloc:
        return "Credentials in the URL are not allowed."
    return None


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false only (DRF's BooleanField also takes 0, 1, "yes", "off", ...)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class WebhookCreateSerializer(StrictSerializer):
    url = StrictCharField(max_length=2000, pattern=TARGET_URL, rule=target_url_error)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1, max_length=len(EVENT_CHOICES)
    )
    project_id = StrictUUIDField(required=False, allow_null=True)


class WebhookUpdateSerializer(WebhookCreateSerializer):
    is_active = StrictBooleanField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class WebhookSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(read_only=True, allow_null=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES))

    class Meta:
        model = Subscription
        fields = [
            "id",
            "url",
            "events",
            "project_id",
            "is_active",
            "disabled_reason",
            "disabled_at",
            "failing_since",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="The HMAC key of the signatures: shown only this once.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "duration_ms",
            "outcome",
            "status_code",
            "address",
            "error",
            "response_excerpt",
        ]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.UUIDField(source="subscription_id", read_only=True)
    attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "sequence",
            "event",
            "build_id",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "completed_at",
            "attempts",
        ]
        read_only_fields = fields
