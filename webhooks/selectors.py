"""Reads of the webhooks API and admin, always from a tenant-scoped queryset."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.models import Tenant
from webhooks.models import Delivery, Subscription


def subscriptions_for(tenant: Tenant) -> QuerySet[Subscription]:
    return Subscription.objects.for_tenant(tenant)


def deliveries_of(subscription: Subscription) -> QuerySet[Delivery]:
    return (
        Delivery.objects.for_tenant(subscription.tenant)
        .filter(subscription=subscription)
        .prefetch_related("attempts")
        .order_by("-sequence")
    )
