"""/projects/{id}/triggers (CRUD, rotate-secret, deliveries) and POST /hooks/{trigger_id}, the delivery URL."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import selectors as build_selectors
from builds.api.views.common import PROJECT_ID
from imagefactory.core import ratelimit
from imagefactory.core.api import get_or_404, paginate, parse_uuid
from imagefactory.core.errors import NotFound, RateLimited
from imagefactory.core.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS, ErrorEnvelope, page_of
from tenants import roles
from triggers import selectors, services
from triggers.api import examples
from triggers.api.serializers import (
    HookResultSerializer,
    TriggerDeliverySerializer,
    TriggerSerializer,
    TriggerUpdateSerializer,
    TriggerWithSecretSerializer,
)

TRIGGER_ID = OpenApiParameter("trigger_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Trigger ID")
TRIGGER_PAGE = page_of(TriggerSerializer, key="triggers", name="TriggerList")
DELIVERY_PAGE = page_of(TriggerDeliverySerializer, key="deliveries", name="TriggerDeliveryList")
TAGS = ["Build triggers"]


def _project(request, project_id: str):
    return get_or_404(build_selectors.projects_for(request.tenant), project_id, name="project_id", label="Project")


def _trigger(request, project_id: str, trigger_id: str):
    project = _project(request, project_id)
    return get_or_404(selectors.triggers_for(request.tenant, project), trigger_id, name="trigger_id", label="Trigger")


class TriggerListView(APIView):
    required_permissions = {"GET": roles.PROJECT_MANAGE, "POST": roles.PROJECT_MANAGE}

    @extend_schema(
        parameters=[PROJECT_ID, *PAGINATION_PARAMETERS],
        responses={200: TRIGGER_PAGE, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="listTriggers",
        summary="List a project's build triggers",
        examples=examples.LIST_TRIGGERS,
    )
    def get(self, request, project_id: str):
        page = paginate(selectors.triggers_for(request.tenant, _project(request, project_id)), request)
        rendered = TriggerSerializer(page.items, many=True, context={"request": request}).data
        return Response(page.envelope("triggers", rendered))

    @extend_schema(
        parameters=[PROJECT_ID],
        request=TriggerSerializer,
        responses={201: TriggerWithSecretSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="createTrigger",
        summary="Add a build trigger (its secret is in this answer only)",
        examples=examples.CREATE_TRIGGER,
    )
    def post(self, request, project_id: str):
        project = _project(request, project_id)
        data = TriggerSerializer.validated(request.data)
        trigger, secret = services.create_trigger(project=project, **data)
        trigger.secret = secret
        body = TriggerWithSecretSerializer(trigger, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class TriggerDetailView(APIView):
    required_permissions = {"GET": roles.PROJECT_MANAGE, "PATCH": roles.PROJECT_MANAGE, "DELETE": roles.PROJECT_MANAGE}

    @extend_schema(
        parameters=[PROJECT_ID, TRIGGER_ID],
        responses={200: TriggerSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="getTrigger",
        summary="Get a build trigger",
        examples=examples.GET_TRIGGER,
    )
    def get(self, request, project_id: str, trigger_id: str):
        trigger = _trigger(request, project_id, trigger_id)
        return Response(TriggerSerializer(trigger, context={"request": request}).data)

    @extend_schema(
        parameters=[PROJECT_ID, TRIGGER_ID],
        request=TriggerUpdateSerializer,
        responses={200: TriggerSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="updateTrigger",
        summary="Change a build trigger (only the fields sent)",
        examples=examples.UPDATE_TRIGGER,
    )
    def patch(self, request, project_id: str, trigger_id: str):
        trigger = _trigger(request, project_id, trigger_id)
        data = TriggerUpdateSerializer.validated(request.data, partial=True)
        trigger = services.update_trigger(trigger=trigger, **data)
        return Response(TriggerSerializer(trigger, context={"request": request}).data)

    @extend_schema(
        parameters=[PROJECT_ID, TRIGGER_ID],
        responses={204: None, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="deleteTrigger",
        summary="Delete a build trigger (its builds stay)",
    )
    def delete(self, request, project_id: str, trigger_id: str):
        services.delete_trigger(trigger=_trigger(request, project_id, trigger_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TriggerRotateSecretView(APIView):
    required_permissions = {"POST": roles.PROJECT_MANAGE}

    @extend_schema(
        parameters=[PROJECT_ID, TRIGGER_ID],
        request=None,
        responses={200: TriggerWithSecretSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="rotateTriggerSecret",
        summary="Replace a build trigger's secret (shown in this answer only)",
        examples=examples.ROTATE_SECRET,
    )
    def post(self, request, project_id: str, trigger_id: str):
        trigger = _trigger(request, project_id, trigger_id)
        trigger.secret = services.rotate_secret(trigger=trigger)
        return Response(TriggerWithSecretSerializer(trigger, context={"request": request}).data)


class TriggerDeliveryListView(APIView):
    required_permissions = {"GET": roles.PROJECT_MANAGE}

    @extend_schema(
        parameters=[PROJECT_ID, TRIGGER_ID, *PAGINATION_PARAMETERS],
        responses={200: DELIVERY_PAGE, **ERROR_RESPONSES},
        tags=TAGS,
        operation_id="listTriggerDeliveries",
        summary="A build trigger's recent deliveries, newest first (the last 100 are kept)",
        examples=examples.LIST_DELIVERIES,
    )
    def get(self, request, project_id: str, trigger_id: str):
        trigger = _trigger(request, project_id, trigger_id)
        page = paginate(selectors.deliveries_of(trigger), request)
        return Response(page.envelope("deliveries", TriggerDeliverySerializer(page.items, many=True).data))


HOOK_DESCRIPTION = """The trigger's delivery URL, for the git host's webhook settings. No token and no
X-Tenant-ID: the provider's signature of the raw body, made with the trigger's secret, is the
authentication (GitHub `X-Hub-Signature-256`, Gitea/Forgejo `X-Gitea-Signature`, GitLab
`X-Gitlab-Token`, generic `X-ImageFactory-Signature: sha256=<hex>`). The body is the provider's push
payload (at most 1 MiB). A push to a matching branch creates and starts a build at the pushed commit
(201); a ping answers 200; a branch no pattern matches, a deleted branch or a tag answers 202 and
builds nothing; a payload naming another repository answers 422. A delivery id received before
answers 200 with what it made then."""


class HookView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        parameters=[TRIGGER_ID],
        request=None,
        responses={
            200: HookResultSerializer,
            201: HookResultSerializer,
            202: HookResultSerializer,
            422: OpenApiResponse(response=ErrorEnvelope, description="The payload names another repository"),
            **ERROR_RESPONSES,
        },
        auth=[],
        tags=TAGS,
        operation_id="receiveHook",
        summary="Receive a push hook delivery",
        description=HOOK_DESCRIPTION,
        examples=examples.HOOK,
    )
    def post(self, request, trigger_id: str):
        parsed_id = parse_uuid(trigger_id, name="trigger_id")
        _count(request, parsed_id)
        body = _read_body(request)
        trigger = selectors.trigger_for_hook(parsed_id)
        if trigger is None:
            raise NotFound("Trigger not found")
        answer = services.receive_delivery(trigger=trigger, body=body, headers=request.headers)
        result = {
            "delivery_id": answer.delivery_id,
            "event": answer.event,
            "outcome": answer.outcome,
            "message": answer.message,
            "build_id": answer.build.pk if answer.build is not None else None,
            "duplicate": answer.duplicate,
        }
        headers = {}
        if answer.build is not None and answer.status_code == 201:
            headers["Location"] = request.build_absolute_uri(reverse("build-detail", args=[answer.build.pk]))
        return Response(HookResultSerializer(result).data, status=answer.status_code, headers=headers)


def _count(request, trigger_id) -> None:
    """Per trigger and per client address, before the body is read or anything is looked up."""
    window = settings.HOOK_RATE_WINDOW_SECONDS
    scopes = [
        (f"hook:trigger:{trigger_id}", settings.HOOK_RATE_LIMIT),
        (f"hook:addr:{ratelimit.client_address(request)}", settings.HOOK_ADDRESS_RATE_LIMIT),
    ]
    for scope, limit in scopes:
        count = ratelimit.hit(scope, limit=limit, window_seconds=window)
        if count.exceeded:
            raise RateLimited(
                "Too many deliveries; retry after the time in Retry-After",
                retry_after=count.retry_after,
                details={"limit": limit, "reset": count.reset_at},
            )


def _read_body(request) -> bytes:
    """The raw body, read once and at most HOOK_MAX_BODY_BYTES of it (the signature covers these bytes)."""
    limit = settings.HOOK_MAX_BODY_BYTES
    too_large = services.PayloadTooLarge("Request body is too large", details={"max_bytes": limit})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    body = request._request.read(limit + 1)  # the Django request's stream: DRF has not parsed it
    if len(body) > limit:
        raise too_large
    return body
