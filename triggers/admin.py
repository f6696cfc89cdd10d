"""Triggers in the admin, read-only: their settings and last deliveries; the secret never shown."""

from __future__ import annotations

from django.contrib import admin

from triggers.models import Trigger, TriggerDelivery


class TriggerDeliveryInline(admin.TabularInline):
    model = TriggerDelivery
    fields = ("delivered_at", "delivery_id", "event", "outcome", "status_code", "branch", "commit", "build", "message")
    readonly_fields = fields
    ordering = ("-delivered_at", "-id")
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "tenant", "kind", "cancel_superseded", "created_at")
    list_filter = ("kind",)
    list_select_related = ("project", "tenant")
    search_fields = ("id", "project__name", "tenant__name")
    # The secret stays out: it was shown once, at creation (rotate it through the API).
    fields = ("id", "tenant", "project", "kind", "branch_patterns", "build_args", "cancel_superseded", "created_at")
    # Read-only: changes go through the API, whose serializer validates the globs and build args.
    readonly_fields = fields
    inlines = [TriggerDeliveryInline]

    def has_add_permission(self, request) -> bool:
        return False  # made through the API, which hands out the secret once
