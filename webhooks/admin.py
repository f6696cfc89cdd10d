"""Webhooks in the admin: subscriptions (the secret never shown), their delivery log, and redelivery."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet

from imagefactory.core.errors import ApiError
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("url", "tenant", "project", "events", "is_active", "disabled_reason", "failing_since", "created_at")
    list_filter = ("is_active", "tenant")
    list_select_related = ("tenant", "project")
    search_fields = ("url",)
    fields = (
        "id",
        "tenant",
        "url",
        "events",
        "project",
        "is_active",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "id",
        "tenant",
        "project",
        "created_by",
        "disabled_at",
        "failing_since",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request) -> bool:
        return False  # made through the API, which shows the secret once


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "outcome", "status_code", "address", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event",
        "sequence",
        "subscription",
        "build_id",
        "status",
        "attempt_count",
        "last_status_code",
        "created_at",
    )
    list_filter = ("status", "event", "tenant")
    list_select_related = ("subscription",)
    search_fields = ("id", "build_id", "subscription__url")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    inlines = (AttemptInline,)
    actions = ("redeliver",)
    readonly_fields = (
        "id",
        "tenant",
        "subscription",
        "sequence",
        "event",
        "build_id",
        "status",
        "attempt_count",
        "next_attempt_at",
        "retry_until",
        "claimed_until",
        "last_status_code",
        "last_error",
        "created_at",
        "completed_at",
        "body",
    )
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Redeliver (the same body, now)")
    def redeliver(self, request, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for delivery in queryset:
            try:
                services.redeliver(delivery=delivery)
                done += 1
            except ApiError as exc:
                self.message_user(request, f"{delivery}: {exc.detail}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} deliveries queued again.", messages.SUCCESS)
