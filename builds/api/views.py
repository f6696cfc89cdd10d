"""/projects and /builds: thin views over selectors (reads) and services (writes)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import project_services, selectors, services
from builds.api.serializers import (
    BuildCancelSerializer,
    BuildCreateSerializer,
    BuildLogsSerializer,
    BuildSerializer,
    BuildStatusSerializer,
    LogEntrySerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
)
from builds.idempotency import idempotent
from builds.models import BuildStatus
from imagefactory.core.api import get_or_404, paginate, parse_uuid, query_choice, query_int
from imagefactory.core.errors import InvalidRequest
from imagefactory.core.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS, integer, page_of
from imagefactory.core.timestamps import iso_z
from tenants import roles

PROJECT_PAGE = page_of(ProjectSerializer, key="projects", name="ProjectList")
BUILD_PAGE = page_of(BuildSerializer, key="builds", name="BuildList")
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description="Repeat-safe retries: the same key and body within 24 h replays the first response.",
)
# Named like the URL pattern's argument: a differently named one documents a parameter the path lacks.
BUILD_ID = OpenApiParameter("build_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Build ID")
PROJECT_ID = OpenApiParameter("project_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Project ID")


def _build(request, build_id: str):
    return get_or_404(selectors.builds_for(request.tenant), build_id, label="Build")


def _created(request, build) -> Response:
    location = request.build_absolute_uri(reverse("build-detail", args=[build.pk]))
    return Response(BuildSerializer(build).data, status=status.HTTP_201_CREATED, headers={"Location": location})


# --- Projects ------------------------------------------------------------------------------

class ProjectListView(APIView):
    required_permissions = {"GET": roles.PROJECT_LIST, "POST": roles.PROJECT_CREATE}

    @extend_schema(parameters=PAGINATION_PARAMETERS, responses={200: PROJECT_PAGE, **ERROR_RESPONSES},
                   tags=["Projects"], operation_id="listProjects")
    def get(self, request):
        page = paginate(selectors.projects_for(request.tenant).order_by("name", "id"), request)
        return Response(page.envelope("projects", ProjectSerializer(page.items, many=True).data))

    @extend_schema(request=ProjectSerializer, responses={201: ProjectSerializer, **ERROR_RESPONSES},
                   tags=["Projects"], operation_id="createProject")
    def post(self, request):
        data = ProjectSerializer.validated(request.data)
        project = project_services.create_project(tenant=request.tenant, **data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    required_permissions = {"GET": roles.PROJECT_READ, "PATCH": roles.PROJECT_UPDATE,
                            "DELETE": roles.PROJECT_DELETE}

    def _project(self, request, project_id: str):
        return get_or_404(selectors.projects_for(request.tenant), project_id, label="Project")

    @extend_schema(parameters=[PROJECT_ID], responses={200: ProjectSerializer, **ERROR_RESPONSES},
                   tags=["Projects"], operation_id="getProject")
    def get(self, request, project_id: str):
        return Response(ProjectSerializer(self._project(request, project_id)).data)

    @extend_schema(parameters=[PROJECT_ID], request=ProjectUpdateSerializer,
                   responses={200: ProjectSerializer, **ERROR_RESPONSES}, tags=["Projects"],
                   operation_id="updateProject")
    def patch(self, request, project_id: str):
        project = self._project(request, project_id)
        data = ProjectUpdateSerializer.validated(request.data, partial=True)
        project = project_services.update_project(project=project, **data)
        return Response(ProjectSerializer(project).data)

    @extend_schema(parameters=[PROJECT_ID], responses={204: None, **ERROR_RESPONSES}, tags=["Projects"],
                   operation_id="deleteProject")
    def delete(self, request, project_id: str):
        project_services.delete_project(project=self._project(request, project_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Builds --------------------------------------------------------------------------------

BUILD_LIST_PARAMETERS = [
    *PAGINATION_PARAMETERS,
    OpenApiParameter("status", str, enum=BuildStatus.values, description="Filter by status"),
    OpenApiParameter("project_id", OpenApiTypes.UUID, description="Filter by project"),
    OpenApiParameter("sort_by", str, enum=selectors.SORT_FIELDS, default="created_at"),
    OpenApiParameter("sort_order", str, enum=selectors.SORT_ORDERS, default="desc"),
]


class BuildListView(APIView):
    required_permissions = {"GET": roles.BUILD_LIST, "POST": roles.BUILD_CREATE}

    @extend_schema(parameters=BUILD_LIST_PARAMETERS, responses={200: BUILD_PAGE, **ERROR_RESPONSES},
                   tags=["Builds"], operation_id="listBuilds")
    def get(self, request):
        project_id = request.query_params.get("project_id") or None
        if project_id is not None:
            project_id = parse_uuid(project_id, name="project_id")
        builds = selectors.build_list(
            tenant=request.tenant,
            status=query_choice(request, "status", BuildStatus.values, default=None),
            project_id=project_id,
            sort_by=query_choice(request, "sort_by", selectors.SORT_FIELDS, default="created_at"),
            sort_order=query_choice(request, "sort_order", selectors.SORT_ORDERS, default="desc"),
        )
        page = paginate(builds, request)
        return Response(page.envelope("builds", BuildSerializer(page.items, many=True).data))

    @extend_schema(parameters=[IDEMPOTENCY_HEADER], request=BuildCreateSerializer,
                   responses={201: BuildSerializer, **ERROR_RESPONSES}, tags=["Builds"], operation_id="createBuild")
    @idempotent
    def post(self, request):
        data = BuildCreateSerializer.validated(request.data)
        project = selectors.projects_for(request.tenant).filter(pk=data["project_id"]).first()
        if project is None:
            raise InvalidRequest("Unknown project", details={"project_id": "No such project in this tenant."})
        build = services.create_build(tenant=request.tenant, project=project, user=request.user,
                                      git_branch=data["git_branch"], git_commit=data.get("git_commit"),
                                      build_args=data.get("build_args"))
        return _created(request, build)


class BuildDetailView(APIView):
    required_permissions = {"GET": roles.BUILD_READ, "DELETE": roles.BUILD_DELETE}

    @extend_schema(parameters=[BUILD_ID], responses={200: BuildSerializer, **ERROR_RESPONSES}, tags=["Builds"],
                   operation_id="getBuild")
    def get(self, request, build_id: str):
        return Response(BuildSerializer(_build(request, build_id)).data)

    @extend_schema(parameters=[BUILD_ID], responses={204: None, **ERROR_RESPONSES}, tags=["Builds"],
                   operation_id="deleteBuild")
    def delete(self, request, build_id: str):
        services.delete_build(build=_build(request, build_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BuildStartView(APIView):
    required_permissions = {"POST": roles.BUILD_CREATE}

    @extend_schema(parameters=[BUILD_ID, IDEMPOTENCY_HEADER], request=None,
                   responses={200: BuildSerializer, **ERROR_RESPONSES}, tags=["Builds"], operation_id="startBuild")
    @idempotent
    def post(self, request, build_id: str):
        build = services.start_build(build=_build(request, build_id), user=request.user)
        return Response(BuildSerializer(build).data)


class BuildCancelView(APIView):
    required_permissions = {"POST": roles.BUILD_CANCEL}

    @extend_schema(parameters=[BUILD_ID, IDEMPOTENCY_HEADER], request=BuildCancelSerializer,
                   responses={200: BuildSerializer, **ERROR_RESPONSES}, tags=["Builds"], operation_id="cancelBuild")
    @idempotent
    def post(self, request, build_id: str):
        data = BuildCancelSerializer.validated(request.data if request.data is not None else {})
        build = services.cancel_build(build=_build(request, build_id), user=request.user, reason=data.get("reason"))
        return Response(BuildSerializer(build).data)


class BuildRetryView(APIView):
    required_permissions = {"POST": roles.BUILD_CREATE}

    @extend_schema(parameters=[BUILD_ID, IDEMPOTENCY_HEADER], request=None,
                   responses={201: BuildSerializer, **ERROR_RESPONSES}, tags=["Builds"], operation_id="retryBuild")
    @idempotent
    def post(self, request, build_id: str):
        return _created(request, services.retry_build(build=_build(request, build_id), user=request.user))


class BuildStatusView(APIView):
    required_permissions = {"GET": roles.BUILD_READ}

    @extend_schema(parameters=[BUILD_ID], responses={200: BuildStatusSerializer, **ERROR_RESPONSES},
                   tags=["Build Status"], operation_id="getBuildStatus")
    def get(self, request, build_id: str):
        return Response(BuildStatusSerializer(selectors.build_status(_build(request, build_id))).data)


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "text"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, (bytes, str)) else JSONRenderer().render(data)


TEXT_CHUNK_LINES = 2000


def _plain_text_chunk(build_id, after_seq: int) -> tuple[str, int | None]:
    """The text of the next TEXT_CHUNK_LINES lines after after_seq, and the seq to continue after (None: done)."""
    lines = selectors.log_lines_after(build_id, after_seq=after_seq, limit=TEXT_CHUNK_LINES)
    text = "".join(f"{iso_z(line.timestamp)} {line.level:<5} {line.message}\n"
                   for line in lines)
    return text, (lines[-1].seq if len(lines) == TEXT_CHUNK_LINES else None)


def _plain_text_lines(build_id):
    """The whole log as text, chunk by chunk, for a sync server (WSGI, the test client)."""
    after: int | None = 0
    while after is not None:
        text, after = _plain_text_chunk(build_id, after)
        if text:
            yield text


async def _plain_text_lines_async(build_id):
    """The same, for ASGI (daphne): a sync iterator would be read into memory whole before sending."""
    fetch = sync_to_async(_plain_text_chunk)
    after: int | None = 0
    while after is not None:
        text, after = await fetch(build_id, after)
        if text:
            yield text


LOG_FORMATS = ("json", "text")


class BuildLogsView(APIView):
    required_permissions = {"GET": roles.BUILD_READ}
    renderer_classes = [JSONRenderer, PlainTextRenderer]

    def perform_content_negotiation(self, request, force=False):
        # An unknown ?format= falls back to JSON here and get() answers 400 naming the parameter;
        # DRF alone would answer 404 before even authenticating.
        unknown_format = request.query_params.get("format") not in (None, "", *LOG_FORMATS)
        return super().perform_content_negotiation(request, force=force or unknown_format)

    def handle_exception(self, exc):
        # Errors are always the JSON envelope, even when the client asked for text.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    @extend_schema(
        parameters=[
            BUILD_ID,
            OpenApiParameter("offset", integer(0, 10**9), default=0, description="Lines to skip"),
            OpenApiParameter("limit", integer(1, 1000), default=100, description="Lines to return, 1-1000"),
            OpenApiParameter("format", str, enum=LOG_FORMATS, description="text: the whole log as plain text"),
        ],
        responses={200: BuildLogsSerializer, (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR),
                   **ERROR_RESPONSES},
        tags=["Build Logs"], operation_id="getBuildLogs",
    )
    def get(self, request, build_id: str):
        query_choice(request, "format", LOG_FORMATS, default=None)
        build = _build(request, build_id)
        if request.accepted_renderer.format == "text":
            under_asgi = isinstance(request._request, ASGIRequest)
            lines = (_plain_text_lines_async if under_asgi else _plain_text_lines)(build.pk)
            response = StreamingHttpResponse(lines, content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="build-{build.build_number}.log"'
            return response
        offset = query_int(request, "offset", default=0, minimum=0, maximum=10**9)
        limit = query_int(request, "limit", default=100, minimum=1, maximum=1000)
        lines = selectors.log_lines(build, offset=offset, limit=limit)
        return Response({
            "build_id": build.pk,
            "logs": LogEntrySerializer(lines, many=True).data,
            "total_lines": selectors.log_line_total(build),
            "offset": offset,
            "limit": limit,
        })
