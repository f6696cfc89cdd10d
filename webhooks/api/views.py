"""/webhooks: the tenant's subscriptions to build events, their delivery log, redelivery."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import selectors as build_selectors
from imagefactory.core.api import get_or_404, paginate
from imagefactory.core.errors import InvalidRequest
from imagefactory.core.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS, page_of
from tenants import roles
from webhooks import selectors, services
from webhooks.api import examples
from webhooks.api.serializers import (
    DeliverySerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
    WebhookWithSecretSerializer,
)

WEBHOOK_PAGE = page_of(WebhookSerializer, key="webhooks", name="WebhookList")
DELIVERY_PAGE = page_of(DeliverySerializer, key="deliveries", name="DeliveryList")
WEBHOOK_ID = OpenApiParameter("webhook_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Webhook ID")
DELIVERY_ID = OpenApiParameter("delivery_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Delivery ID")
TAGS = ["Webhooks"]


def _webhook(request, webhook_id: str):
    return get_or_404(selectors.subscriptions_for(request.tenant), webhook_id, name="webhook_id", label="Webhook")


def _project(request, data: dict):
    """The project of `project_id` in this tenant (None when not given or null)."""
    if data.get("project_id") is None:
        return None
    project = build_selectors.projects_for(request.tenant).filter(pk=data["project_id"]).first()
    if project is None:
        raise InvalidRequest("Unknown project", details={"project_id": "No such project in this tenant."})
    return project


class WebhookListView(APIView):
    required_permissions = {"GET": roles.WEBHOOK_MANAGE, "POST": roles.WEBHOOK_MANAGE}

    @extend_schema(
        parameters=PAGINATION_PARAMETERS,
        responses={200: WEBHOOK_PAGE, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="listWebhooks",
        summary="List the tenant's webhook subscriptions",
        examples=examples.LIST_WEBHOOKS,
    )
    def get(self, request):
        page = paginate(selectors.subscriptions_for(request.tenant), request)
        return Response(page.envelope("webhooks", WebhookSerializer(page.items, many=True).data))

    @extend_schema(
        request=WebhookCreateSerializer,
        responses={201: WebhookWithSecretSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="createWebhook",
        summary="Subscribe a URL to build events (the response shows the signing secret, once)",
        examples=examples.CREATE_WEBHOOK,
    )
    def post(self, request):
        data = WebhookCreateSerializer.validated(request.data)
        subscription = services.create_subscription(
            tenant=request.tenant,
            user=request.user,
            url=data["url"],
            events=data["events"],
            project=_project(request, data),
        )
        return Response(WebhookWithSecretSerializer(subscription).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    required_permissions = {"GET": roles.WEBHOOK_MANAGE, "PATCH": roles.WEBHOOK_MANAGE, "DELETE": roles.WEBHOOK_MANAGE}

    @extend_schema(
        parameters=[WEBHOOK_ID],
        responses={200: WebhookSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="getWebhook",
        summary="Get a webhook subscription",
        examples=examples.GET_WEBHOOK,
    )
    def get(self, request, webhook_id: str):
        return Response(WebhookSerializer(_webhook(request, webhook_id)).data)

    @extend_schema(
        parameters=[WEBHOOK_ID],
        request=WebhookUpdateSerializer,
        responses={200: WebhookSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="updateWebhook",
        summary="Change a webhook's URL, events, project or is_active (true again after it was disabled)",
        examples=examples.UPDATE_WEBHOOK,
    )
    def patch(self, request, webhook_id: str):
        subscription = _webhook(request, webhook_id)
        data = WebhookUpdateSerializer.validated(request.data)
        changes = {name: data[name] for name in ("url", "events", "is_active") if name in data}
        if "project_id" in data:
            changes["project"] = _project(request, data)
        subscription = services.update_subscription(subscription=subscription, changes=changes)
        return Response(WebhookSerializer(subscription).data)

    @extend_schema(
        parameters=[WEBHOOK_ID],
        responses={204: None, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="deleteWebhook",
        summary="Delete a webhook subscription and its delivery log",
    )
    def delete(self, request, webhook_id: str):
        services.delete_subscription(subscription=_webhook(request, webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(APIView):
    required_permissions = {"POST": roles.WEBHOOK_MANAGE}

    @extend_schema(
        parameters=[WEBHOOK_ID],
        request=None,
        responses={200: WebhookWithSecretSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="rotateWebhookSecret",
        summary="Replace the signing secret (the response shows the new one, once)",
        examples=examples.ROTATE_SECRET,
    )
    def post(self, request, webhook_id: str):
        subscription = services.rotate_secret(subscription=_webhook(request, webhook_id))
        return Response(WebhookWithSecretSerializer(subscription).data)


class WebhookDeliveryListView(APIView):
    required_permissions = {"GET": roles.WEBHOOK_MANAGE}

    @extend_schema(
        parameters=[WEBHOOK_ID, *PAGINATION_PARAMETERS],
        responses={200: DELIVERY_PAGE, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="listWebhookDeliveries",
        summary="The delivery log of a webhook, newest first, with every attempt",
        examples=examples.LIST_DELIVERIES,
    )
    def get(self, request, webhook_id: str):
        page = paginate(selectors.deliveries_of(_webhook(request, webhook_id)), request)
        return Response(page.envelope("deliveries", DeliverySerializer(page.items, many=True).data))


class WebhookRedeliverView(APIView):
    required_permissions = {"POST": roles.WEBHOOK_MANAGE}

    @extend_schema(
        parameters=[WEBHOOK_ID, DELIVERY_ID],
        request=None,
        responses={202: DeliverySerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="redeliverWebhook",
        summary="Send a delivery again (the same body and delivery id), now",
        examples=examples.REDELIVER,
    )
    def post(self, request, webhook_id: str, delivery_id: str):
        subscription = _webhook(request, webhook_id)
        delivery = get_or_404(selectors.deliveries_of(subscription), delivery_id, name="delivery_id", label="Delivery")
        delivery = services.redeliver(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
