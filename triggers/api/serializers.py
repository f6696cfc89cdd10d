"""Shapes of /projects/{id}/triggers and of the hook endpoint's answers."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from builds.api.serializers import BuildArgsField
from imagefactory.core.serializers import StrictCharField, StrictModelSerializer
from triggers.models import DeliveryOutcome, Trigger, TriggerDelivery, TriggerKind

# A branch glob: printable ASCII without spaces (`*` within a path segment, `**` across, `?` one character).
BRANCH_PATTERN = r"^[!-~]+$"
MAX_BRANCH_PATTERNS = 20


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only (DRF also takes "yes", "on", 1 ...; the schema says boolean)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class TriggerSerializer(StrictModelSerializer):
    project_id = serializers.UUIDField(read_only=True)
    kind = serializers.ChoiceField(choices=TriggerKind.choices)
    branch_patterns = serializers.ListField(
        child=StrictCharField(max_length=255, pattern=BRANCH_PATTERN),
        min_length=1,
        max_length=MAX_BRANCH_PATTERNS,
        required=False,
        help_text="Branch globs that build, e.g. main, release/*; default: the project's default branch.",
    )
    build_args = BuildArgsField(required=False)
    cancel_superseded = StrictBooleanField(
        required=False,
        default=True,
        help_text="A newer push cancels this trigger's not yet running builds of the branch.",
    )
    delivery_url = serializers.SerializerMethodField()

    class Meta:
        model = Trigger
        fields = [
            "id",
            "project_id",
            "kind",
            "branch_patterns",
            "build_args",
            "cancel_superseded",
            "delivery_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_delivery_url(self, trigger: Trigger) -> str:
        """Where the git host POSTs: absolute when the request is known."""
        path = reverse("trigger-hook", args=[trigger.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class TriggerUpdateSerializer(TriggerSerializer):
    """PATCH: every field optional, no defaults applied."""

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
            if hasattr(field, "default"):
                field.default = serializers.empty
        return fields


class TriggerWithSecretSerializer(TriggerSerializer):
    """The create and rotate-secret answers: the only times the secret is shown."""

    secret = serializers.CharField(read_only=True, help_text="Shown once; configure it as the hook's secret.")

    class Meta(TriggerSerializer.Meta):
        fields = [*TriggerSerializer.Meta.fields, "secret"]


class TriggerDeliverySerializer(serializers.ModelSerializer):
    outcome = serializers.ChoiceField(choices=DeliveryOutcome.choices)
    build_id = serializers.UUIDField(allow_null=True, read_only=True)

    class Meta:
        model = TriggerDelivery
        fields = [
            "delivery_id",
            "event",
            "outcome",
            "status_code",
            "message",
            "branch",
            "commit",
            "pusher",
            "build_id",
            "delivered_at",
        ]
        read_only_fields = fields


class HookResultSerializer(serializers.Serializer):
    delivery_id = serializers.CharField()
    event = serializers.CharField()
    outcome = serializers.ChoiceField(choices=DeliveryOutcome.choices)
    message = serializers.CharField()
    build_id = serializers.UUIDField(allow_null=True)
    duplicate = serializers.BooleanField(help_text="True when this delivery id was received before: nothing new made.")
