"""What the builds API views share: OpenAPI parameters, tenant-scoped lookups, the 201 answer."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from builds import selectors
from builds.api.serializers import BuildSerializer, ProjectSerializer
from builds.models import Build
from imagefactory.core.api import get_or_404
from imagefactory.core.schema import page_of

PROJECT_PAGE = page_of(ProjectSerializer, key="projects", name="ProjectList")
BUILD_PAGE = page_of(BuildSerializer, key="builds", name="BuildList")
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description="Repeat-safe retries: the same key and body within 24 h replays the first response.",
)
# Named like the URL pattern's argument: a differently named one documents a parameter the path lacks.
BUILD_ID = OpenApiParameter("build_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Build ID")
PROJECT_ID = OpenApiParameter("project_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Project ID")


def build_or_404(request: Request, build_id: str) -> Build:
    return get_or_404(selectors.builds_for(request.tenant), build_id, label="Build")


def created(request: Request, build: Build) -> Response:
    location = request.build_absolute_uri(reverse("build-detail", args=[build.pk]))
    return Response(BuildSerializer(build).data, status=status.HTTP_201_CREATED, headers={"Location": location})
