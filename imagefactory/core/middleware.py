"""Request-id propagation, and JSON envelopes instead of Django's HTML errors under /api/."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse

from imagefactory.core.context import choose_trace_id, tenant_id_var, trace_id_var, user_id_var
from imagefactory.core.errors import database_unavailable_response, envelope_response, is_database_outage

logger = logging.getLogger("imagefactory.request")

# Headers of a replaced HTML error response that still hold for its envelope.
KEPT_HEADER_PREFIXES = ("x-ratelimit-", "retry-after", "allow")


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class RequestIdMiddleware:
    """Adopts a sane X-Request-ID (or makes one) and echoes it on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trace_id = choose_trace_id(request.headers.get("X-Request-ID"))
        request.trace_id = trace_id
        trace_token = trace_id_var.set(trace_id)
        tenant_token = tenant_id_var.set("-")
        user_token = user_id_var.set("-")
        try:
            response = self.get_response(request)
        finally:
            trace_id_var.reset(trace_token)
            tenant_id_var.reset(tenant_token)
            user_id_var.reset(user_token)
        response["X-Request-ID"] = trace_id
        return response


class ApiErrorMiddleware:
    """Turns every non-DRF failure under /api/ into the envelope, whatever DEBUG says."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            is_api_path(request.path)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            # DRF chose this rendering itself (the browsable API's HTML page for a browser).
            and getattr(response, "accepted_renderer", None) is None
        ):
            # Django's own 400/403/404/405 pages (e.g. CSRF, disallowed host) rendered as HTML.
            replacement = envelope_response(response.status_code, response.reason_phrase or "Error")
            for name, value in response.items():
                if name.lower().startswith(KEPT_HEADER_PREFIXES):
                    replacement[name] = value
            return replacement
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return envelope_response(
                413,
                "Request body is too large",
                details={"max_bytes": _max_body_bytes()},
            )
        if isinstance(exception, (SuspiciousOperation, BadRequest)):
            return envelope_response(400, "Bad request")
        if is_database_outage(exception):
            logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
            return database_unavailable_response()
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return envelope_response(500, "Internal server error")


def _max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE
