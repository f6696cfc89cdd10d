"""GET /metrics (Prometheus text, behind METRICS_TOKEN) and the middleware that times every request."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from imagefactory.core.errors import envelope_response
from imagefactory.core.metrics import HTTP_REQUEST_DURATION, ImageFactoryCollector
from imagefactory.core.tokens import bearer_token

access_logger = logging.getLogger("imagefactory.access")

_registry = CollectorRegistry(auto_describe=False)
_registry.register(ImageFactoryCollector())

UNRESOLVED_ROUTE = "<unresolved>"  # static files, and requests answered before URL resolution


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    """Off (404, like any unknown URL) while METRICS_TOKEN is unset; otherwise the token is required."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return envelope_response(404, f"No endpoint at {request.path}", details={"path": request.path})
    if request.method not in ("GET", "HEAD"):
        return envelope_response(405, "Method not allowed", headers={"Allow": "GET, HEAD"})
    given = bearer_token(request.headers.get("Authorization", "")) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return envelope_response(
            401, "A valid metrics token is required", headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
        )
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (bounded label values), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNRESOLVED_ROUTE
    return "/" + match.route.lstrip("^").rstrip("$")


class RequestMetricsMiddleware:
    """Times each request by route, method and status; logs one access line inside the request's context."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        HTTP_REQUEST_DURATION.observe(elapsed, route=route, method=method, status=response.status_code)
        access_logger.info(
            "%s %s %s %.1f ms",
            method,
            request.path,
            response.status_code,
            elapsed * 1000,
            extra={"http_method": method, "route": route, "status": response.status_code},
        )
        return response


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
