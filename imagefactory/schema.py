"""OpenAPI pieces: the error envelope, the X-Tenant-ID header, pagination and rate-limit headers."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorEnvelope = inline_serializer(
    name="Error",
    fields={
        "error": serializers.CharField(),
        "code": serializers.CharField(),
        "timestamp": serializers.DateTimeField(),
        "trace_id": serializers.CharField(),
        "details": serializers.DictField(),
    },
)

ERROR_RESPONSES = {
    status: OpenApiResponse(response=ErrorEnvelope, description=description)
    for status, description in {
        400: "Invalid request (body, query parameter, header or id)",
        401: "Missing or invalid authentication token",
        403: "Not a member of the tenant, tenant suspended, or permission missing",
        404: "Not found (also for another tenant's objects)",
        405: "Method not allowed",
        409: "Conflict with the current state",
        413: "Request body too large",
        415: "Unsupported media type",
        429: "Rate limited (see Retry-After)",
        500: "Internal server error",
    }.items()
}

TENANT_HEADER = OpenApiParameter(
    name="X-Tenant-ID",
    type=OpenApiTypes.UUID,
    location=OpenApiParameter.HEADER,
    required=True,
    description="The tenant the request acts in (a non-nil UUID).",
)

PAGINATION_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1", default=1),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Items per page, 1-100", default=20),
]


class TenantAutoSchema(AutoSchema):
    """Adds the X-Tenant-ID header to every operation of a tenant-scoped view."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if getattr(self.view, "required_permissions", None) is not None:
            parameters = [TENANT_HEADER, *parameters]
        return parameters
