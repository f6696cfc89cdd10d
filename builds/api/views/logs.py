"""/builds/{id}/logs: a page of lines as JSON, or the whole log as streamed plain text."""

from __future__ import annotations

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import selectors
from builds.api import examples
from builds.api.serializers import BuildLogsSerializer, LogEntrySerializer
from builds.api.views.common import BUILD_ID, build_or_404
from imagefactory.core.api import query_choice, query_int
from imagefactory.core.schema import ERROR_RESPONSES, integer
from tenants import roles


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "text"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, (bytes, str)) else JSONRenderer().render(data)


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
        responses={200: BuildLogsSerializer, (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR), **ERROR_RESPONSES},
        tags=["Build Logs"],
        operation_id="getBuildLogs",
        summary="Get a build's log: a page of lines, or the whole log as text",
        examples=examples.BUILD_LOGS,
    )
    def get(self, request, build_id: str):
        query_choice(request, "format", LOG_FORMATS, default=None)
        build = build_or_404(request, build_id)
        if request.accepted_renderer.format == "text":
            lines = selectors.log_text(build.pk, under_asgi=isinstance(request._request, ASGIRequest))
            response = StreamingHttpResponse(lines, content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="build-{build.build_number}.log"'
            return response
        offset = query_int(request, "offset", default=0, minimum=0, maximum=10**9)
        limit = query_int(request, "limit", default=100, minimum=1, maximum=1000)
        lines = selectors.log_lines(build, offset=offset, limit=limit)
        return Response(
            {
                "build_id": build.pk,
                "logs": LogEntrySerializer(lines, many=True).data,
                "total_lines": selectors.log_line_total(build),
                "offset": offset,
                "limit": limit,
            }
        )
