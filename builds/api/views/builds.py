"""/builds: list, create, read, delete, start, cancel, retry, status."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import selectors
from builds.api import examples
from builds.api.filters import SORT_FIELDS, SORT_ORDERS, BuildFilter
from builds.api.idempotency import idempotent
from builds.api.serializers import (
    BuildCancelSerializer,
    BuildCreateSerializer,
    BuildSerializer,
    BuildStatusSerializer,
)
from builds.api.views.common import BUILD_ID, BUILD_PAGE, IDEMPOTENCY_HEADER, build_or_404, created
from builds.models import BuildStatus
from builds.services import builds as build_services
from imagefactory.core.api import paginate
from imagefactory.core.errors import InvalidRequest
from imagefactory.core.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS
from tenants import roles

BUILD_LIST_PARAMETERS = [
    *PAGINATION_PARAMETERS,
    OpenApiParameter("status", str, enum=BuildStatus.values, description="Filter by status"),
    OpenApiParameter("project_id", OpenApiTypes.UUID, description="Filter by project"),
    OpenApiParameter("sort_by", str, enum=SORT_FIELDS, default="created_at"),
    OpenApiParameter("sort_order", str, enum=SORT_ORDERS, default="desc"),
]


class BuildListView(APIView):
    required_permissions = {"GET": roles.BUILD_LIST, "POST": roles.BUILD_CREATE}

    @extend_schema(
        parameters=BUILD_LIST_PARAMETERS,
        responses={200: BUILD_PAGE, **ERROR_RESPONSES},
        tags=["Builds"],
        operation_id="listBuilds",
        summary="List builds",
        examples=examples.LIST_BUILDS,
    )
    def get(self, request):
        filters = BuildFilter.validated(request, selectors.builds_for(request.tenant))
        chosen = filters.form.cleaned_data
        page = paginate(
            filters.qs,
            request,
            total=lambda: selectors.build_total(
                request.tenant, project_id=chosen.get("project_id"), status=chosen.get("status")
            ),
        )
        return Response(page.envelope("builds", BuildSerializer(page.items, many=True).data))

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        request=BuildCreateSerializer,
        responses={201: BuildSerializer, **ERROR_RESPONSES},
        tags=["Builds"],
        operation_id="createBuild",
        summary="Create a build",
        examples=examples.CREATE_BUILD,
    )
    @idempotent
    def post(self, request):
        data = BuildCreateSerializer.validated(request.data)
        project = selectors.projects_for(request.tenant).filter(pk=data["project_id"]).first()
        if project is None:
            raise InvalidRequest("Unknown project", details={"project_id": "No such project in this tenant."})
        build = build_services.create_build(
            tenant=request.tenant,
            project=project,
            user=request.user,
            git_branch=data["git_branch"],
            git_commit=data.get("git_commit"),
            build_args=data.get("build_args"),
        )
        return created(request, build)


class BuildDetailView(APIView):
    required_permissions = {"GET": roles.BUILD_READ, "DELETE": roles.BUILD_DELETE}

    @extend_schema(
        parameters=[BUILD_ID],
        responses={200: BuildSerializer, **ERROR_RESPONSES},
        tags=["Builds"],
        operation_id="getBuild",
        summary="Get a build",
        examples=examples.GET_BUILD,
    )
    def get(self, request, build_id: str):
        return Response(BuildSerializer(build_or_404(request, build_id)).data)

    @extend_schema(
        parameters=[BUILD_ID],
        responses={204: None, **ERROR_RESPONSES},
        tags=["Builds"],
        operation_id="deleteBuild",
        summary="Delete a build that is not running",
    )
    def delete(self, request, build_id: str):
        build_services.delete_build(build=build_or_404(request, build_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BuildStartView(APIView):
    required_permissions = {"POST": roles.BUILD_CREATE}

    @extend_schema(
        parameters=[BUILD_ID, IDEMPOTENCY_HEADER],
        request=None,
        responses={200: BuildSerializer, **ERROR_RESPONSES},
        tags=["Builds"],
        operation_id="startBuild",
        summary="Start a queued build",
        examples=examples.START_BUILD,
    )
    @idempotent
    def post(self, request, build_id: str):
        build = build_services.start_build(build=build_or_404(request, build_id), user=request.user)
        return Response(BuildSerializer(build).data)


class BuildCancelView(APIView):
    required_permissions = {"POST": roles.BUILD_CANCEL}

    @extend_schema(
        parameters=[BUILD_ID, IDEMPOTENCY_HEADER],
        request=BuildCancelSerializer,
        responses={200: BuildSerializer, **ERROR_RESPONSES},
        tags=["Builds"],
        operation_id="cancelBuild",
        summary="Cancel a queued or running build",
        examples=examples.CANCEL_BUILD,
    )
    @idempotent
    def post(self, request, build_id: str):
        data = BuildCancelSerializer.validated(request.data if request.data is not None else {})
        build = build_services.cancel_build(
            build=build_or_404(request, build_id), user=request.user, reason=data.get("reason")
        )
        return Response(BuildSerializer(build).data)


class BuildRetryView(APIView):
    required_permissions = {"POST": roles.BUILD_CREATE}

    @extend_schema(
        parameters=[BUILD_ID, IDEMPOTENCY_HEADER],
        request=None,
        responses={201: BuildSerializer, **ERROR_RESPONSES},
        tags=["Builds"],
        operation_id="retryBuild",
        summary="Retry a failed or cancelled build as a new build",
        examples=examples.RETRY_BUILD_EXAMPLES,
    )
    @idempotent
    def post(self, request, build_id: str):
        return created(request, build_services.retry_build(build=build_or_404(request, build_id), user=request.user))


class BuildStatusView(APIView):
    required_permissions = {"GET": roles.BUILD_READ}

    @extend_schema(
        parameters=[BUILD_ID],
        responses={200: BuildStatusSerializer, **ERROR_RESPONSES},
        tags=["Build Status"],
        operation_id="getBuildStatus",
        summary="Get a build's status and progress",
        examples=examples.BUILD_STATUS,
    )
    def get(self, request, build_id: str):
        return Response(BuildStatusSerializer(selectors.build_status(build_or_404(request, build_id))).data)
