"""The error tree and the one place that renders the guide's error envelope."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from imagefactory.core.context import current_trace_id
from imagefactory.core.timestamps import iso_z

logger = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(drf_exceptions.APIException):
    """An error with a place in the envelope. Subclasses fix status and code.

    An APIException, so DRF's own machinery (e.g. the browsable API probing permissions)
    treats it as a client error instead of letting it escape as a 500.
    """

    status_code = 400
    code = "INVALID_REQUEST"
    default_message = "Invalid request"

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class InvalidRequest(ApiError):
    pass


class Unauthorized(ApiError):
    status_code, code, default_message = 401, "UNAUTHORIZED", "Missing or invalid authentication token"


class Forbidden(ApiError):
    status_code, code = 403, "FORBIDDEN"
    default_message = "You do not have permission to access this resource"


class NotFound(ApiError):
    status_code, code, default_message = 404, "NOT_FOUND", "Resource not found"


class Conflict(ApiError):
    status_code, code, default_message = 409, "CONFLICT", "Conflict with the current state"


class RateLimited(ApiError):
    status_code, code, default_message = 429, "RATE_LIMITED", "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int, details=None):
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(ApiError):
    status_code, code, default_message = 503, "SERVICE_UNAVAILABLE", "Service unavailable"


# A database that is restarting or refusing connections is a moment's outage, not a bug: clients
# get a 503 they can retry (never a 500, and never a 401 that would make them drop their token).
DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS = 5


def database_unavailable_response() -> JsonResponse:
    return envelope_response(
        503,
        "The database is unavailable; retry after the time in Retry-After",
        details={"reason": "database_unavailable"},
        headers={"Retry-After": str(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


def is_database_outage(exc: BaseException) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError))


def envelope(status: int, message: str, *, code: str | None = None, details: Any = None) -> dict:
    return {
        "error": message,
        "code": code or CODES_BY_STATUS.get(status, "ERROR"),
        "timestamp": iso_z(),
        "trace_id": current_trace_id(),
        "details": details if details is not None else {},
    }


def envelope_response(
    status: int, message: str, *, code: str | None = None, details=None, headers: dict[str, str] | None = None
) -> JsonResponse:
    response = JsonResponse(envelope(status, message, code=code, details=details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten_validation(detail: Any) -> Any:
    """DRF's {"field": ["msg", ...]} becomes {"field": "msg"}; nested structures keep shape."""
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return " ".join(str(item) for item in detail)
        return [_flatten_validation(item) for item in detail]
    if isinstance(detail, dict):
        return {str(key): _flatten_validation(value) for key, value in detail.items()}
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every API error leaves through here as the envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApiError):
        status, code, message, details = exc.status_code, exc.code, exc.message, exc.details
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, drf_exceptions.ValidationError):
        status, code, message = 400, "INVALID_REQUEST", "Invalid request"
        flat = _flatten_validation(exc.detail)
        details = flat if isinstance(flat, dict) else {"non_field_errors": flat}
        if set(details) == {"non_field_errors"}:
            message = str(details["non_field_errors"])
    elif isinstance(exc, drf_exceptions.APIException):
        status = exc.status_code
        code = CODES_BY_STATUS.get(status, "ERROR")
        message = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else exc.default_detail
        details = {}
        if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
            status, code = 401, "UNAUTHORIZED"
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait:
            headers["Retry-After"] = str(int(exc.wait) + 1)
        if isinstance(exc, drf_exceptions.MethodNotAllowed):
            details = {"method": context["request"].method}
        if isinstance(exc.detail, dict) and "messages" in exc.detail:
            message = "Token is invalid or expired"
    elif isinstance(exc, Http404):
        status, code, message, details = 404, "NOT_FOUND", "Resource not found", {}
    elif isinstance(exc, DjangoPermissionDenied):
        status, code, message, details = 403, "FORBIDDEN", "Permission denied", {}
    elif is_database_outage(exc):
        logger.warning("database unavailable: %s", exc)
        return database_unavailable_response()
    else:
        return None  # uncaught: ApiErrorMiddleware logs it and answers 500
    request = context.get("request")
    if request is not None:  # errors are always the JSON envelope, whatever the Accept header chose
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    response = Response(envelope(status, message, code=code, details=details), status=status)
    for name, value in headers.items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
