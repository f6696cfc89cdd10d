"""/projects: list, create, read, update, delete."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import selectors
from builds.api import examples
from builds.api.filters import ProjectFilter
from builds.api.serializers import ProjectSerializer, ProjectUpdateSerializer
from builds.api.views.common import PROJECT_ID, PROJECT_PAGE
from builds.services import projects as project_services
from imagefactory.core.api import get_or_404, paginate
from imagefactory.core.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS, string
from tenants import roles

PROJECT_LIST_PARAMETERS = [
    *PAGINATION_PARAMETERS,
    OpenApiParameter("name", string(max_length=100), description="Only the project with this name (case-insensitive)"),
]


class ProjectListView(APIView):
    required_permissions = {"GET": roles.PROJECT_LIST, "POST": roles.PROJECT_CREATE}

    @extend_schema(
        parameters=PROJECT_LIST_PARAMETERS,
        responses={200: PROJECT_PAGE, **ERROR_RESPONSES},
        tags=["Projects"],
        operation_id="listProjects",
        summary="List projects",
        examples=examples.LIST_PROJECTS,
    )
    def get(self, request):
        projects = ProjectFilter.apply(request, selectors.projects_for(request.tenant)).order_by("name", "id")
        page = paginate(projects, request)
        return Response(page.envelope("projects", ProjectSerializer(page.items, many=True).data))

    @extend_schema(
        request=ProjectSerializer,
        responses={201: ProjectSerializer, **ERROR_RESPONSES},
        tags=["Projects"],
        operation_id="createProject",
        summary="Register a project",
        examples=examples.CREATE_PROJECT,
    )
    def post(self, request):
        data = ProjectSerializer.validated(request.data)
        project = project_services.create_project(tenant=request.tenant, **data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    required_permissions = {"GET": roles.PROJECT_READ, "PATCH": roles.PROJECT_UPDATE, "DELETE": roles.PROJECT_DELETE}

    def _project(self, request, project_id: str):
        return get_or_404(selectors.projects_for(request.tenant), project_id, label="Project")

    @extend_schema(
        parameters=[PROJECT_ID],
        responses={200: ProjectSerializer, **ERROR_RESPONSES},
        tags=["Projects"],
        operation_id="getProject",
        summary="Get a project",
        examples=examples.GET_PROJECT,
    )
    def get(self, request, project_id: str):
        return Response(ProjectSerializer(self._project(request, project_id)).data)

    @extend_schema(
        parameters=[PROJECT_ID],
        request=ProjectUpdateSerializer,
        responses={200: ProjectSerializer, **ERROR_RESPONSES},
        tags=["Projects"],
        operation_id="updateProject",
        summary="Change a project (only the fields sent)",
        examples=examples.UPDATE_PROJECT,
    )
    def patch(self, request, project_id: str):
        project = self._project(request, project_id)
        data = ProjectUpdateSerializer.validated(request.data, partial=True)
        project = project_services.update_project(project=project, **data)
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        parameters=[PROJECT_ID],
        responses={204: None, **ERROR_RESPONSES},
        tags=["Projects"],
        operation_id="deleteProject",
        summary="Delete a project and its builds",
    )
    def delete(self, request, project_id: str):
        project_services.delete_project(project=self._project(request, project_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
