"""OpenAPI pieces: the error envelope, security schemes, exact request shapes, pagination and headers."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from imagefactory.core.serializers import NO_NUL, StrictCharField, StrictSerializerMixin

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
        406: "The Accept header names no media type this operation answers with",
        415: "Unsupported media type",
        429: "Rate limited (see Retry-After)",
        500: "Internal server error",
        503: "The database is unavailable for a moment (see Retry-After)",
    }.items()
}


def page_of(item_serializer: type[serializers.Serializer], *, key: str, name: str) -> serializers.Serializer:
    """The list envelope of the guide: {<key>: [...], total_count, page, limit, has_more}."""
    return inline_serializer(
        name=name,
        fields={
            key: item_serializer(many=True),
            "total_count": serializers.IntegerField(),
            "page": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "has_more": serializers.BooleanField(),
        },
    )


# X-Tenant-ID is a security scheme rather than a parameter of each operation, so that the docs
# UI's Authorize dialog takes it once, beside the bearer token.
BEARER_SCHEME = "bearerAuth"
TENANT_SCHEME = "tenantId"
TENANT_SECURITY_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "X-Tenant-ID",
    "description": "The tenant the request acts in: a tenant you are a member of (GET /auth/me lists them).",
}


def integer(minimum: int, maximum: int) -> dict:
    """An integer parameter schema with the bounds imagefactory.core.api.query_int enforces."""
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def string(*, pattern: str = NO_NUL, min_length: int = 1, max_length: int | None = None) -> dict:
    """A string parameter schema; empty query parameters are refused (imagefactory.core.api)."""
    schema: dict = {"type": "string", "minLength": min_length, "pattern": pattern}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


PAGINATION_PARAMETERS = [
    OpenApiParameter("page", integer(1, 10**9), description="Page number, from 1", default=1),
    OpenApiParameter("limit", integer(1, 100), description="Items per page, 1-100", default=20),
]


class TenantAutoSchema(AutoSchema):
    """Tenant-scoped views need X-Tenant-ID too; request bodies and strings say exactly what is accepted."""

    def get_operation_id(self) -> str:
        # Plain APIViews are never "list" views to drf-spectacular, so GET /members and
        # GET /members/{id} would both be members_retrieve; a paginated GET is a list.
        operation_id = super().get_operation_id()
        paginated = any(getattr(p, "name", None) == "page" for p in self.get_override_parameters())
        if self.method == "GET" and paginated:
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_auth(self):
        auth = super().get_auth()
        if auth and getattr(self.view, "required_permissions", None) is not None:
            return [{BEARER_SCHEME: [], TENANT_SCHEME: []}]
        return auth

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictSerializerMixin):
            schema["additionalProperties"] = False  # unknown fields are a 400
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # drf-spectacular offers "" beside a pattern for allow_blank fields; a StrictCharField's
        # own pattern already says whether "" is accepted.
        blank = {"type": "string", "maxLength": 0}
        if isinstance(field, StrictCharField) and schema.get("oneOf", [None, None])[1] == blank:
            schema.update(schema.pop("oneOf")[0])

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if schema is None:
            return schema
        if isinstance(field, StrictCharField):
            schema["pattern"] = field.pattern
        if isinstance(field, serializers.DictField):
            if getattr(field, "key_pattern", None):
                schema["propertyNames"] = {"pattern": field.key_pattern}
            if getattr(field, "max_keys", None):
                schema["maxProperties"] = field.max_keys
        return schema


class AccessTokenScheme(OpenApiAuthenticationExtension):
    """Documents the JWT access token as the `bearerAuth` security scheme."""

    target_class = "accounts.authentication.AccessTokenAuthentication"
    name = BEARER_SCHEME

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def _header(description: str, schema: dict, *, required: bool = True) -> dict:
    return {"description": description, "required": required, "schema": schema}


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": _header(
        "Requests allowed per window for this user and tenant.", {"type": "integer", "minimum": 0}
    ),
    "X-RateLimit-Remaining": _header("Requests left in the current window.", {"type": "integer", "minimum": 0}),
    "X-RateLimit-Reset": _header("When the current window ends (unix seconds).", {"type": "integer", "minimum": 0}),
}
REQUEST_ID_HEADER = _header("The request's trace id (also `trace_id` in error bodies).", {"type": "string"})
RETRY_AFTER_HEADER = _header("Seconds to wait before retrying.", {"type": "integer", "minimum": 1})
LOCATION_HEADER = _header("URL of the created build.", {"type": "string", "format": "uri"})
REPLAYED_HEADER = _header(
    "`true` when this is the stored response of an earlier request with the same Idempotency-Key.",
    {"type": "string", "enum": ["true"]},
    required=False,
)
RESPONSE_HEADERS = {
    **RATE_LIMIT_HEADERS,
    "X-Request-ID": REQUEST_ID_HEADER,
    "Retry-After": RETRY_AFTER_HEADER,
    "Location": LOCATION_HEADER,
    "Idempotent-Replayed": REPLAYED_HEADER,
}
# Operations whose 201 carries Location (see builds.api.views._created).
LOCATION_OPERATIONS = {"createBuild", "retryBuild"}


def add_response_headers(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: the headers the middleware and views add to responses."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            idempotent = any(
                p.get("name") == "Idempotency-Key" and p.get("in") == "header" for p in operation.get("parameters", [])
            )
            for code, response in operation.get("responses", {}).items():
                names = [*RATE_LIMIT_HEADERS, "X-Request-ID"]
                if code in ("429", "503"):
                    names.append("Retry-After")
                if code == "201" and operation.get("operationId") in LOCATION_OPERATIONS:
                    names.append("Location")
                if idempotent and code.startswith("2"):
                    names.append("Idempotent-Replayed")
                headers = response.setdefault("headers", {})
                headers.update({name: {"$ref": f"#/components/headers/{name}"} for name in names})
    result.setdefault("components", {}).setdefault("headers", {}).update(RESPONSE_HEADERS)
    return result


def declare_security(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: the X-Tenant-ID scheme, and `security: []` said out loud on /auth/login & co."""
    result.setdefault("components", {}).setdefault("securitySchemes", {})[TENANT_SCHEME] = TENANT_SECURITY_SCHEME
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            operation.setdefault("security", [])
    return result
