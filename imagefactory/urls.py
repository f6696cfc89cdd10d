"""URL map: the API under /api/v1/, probes and /metrics at the root, admin at /admin/, the web UI at / (web/urls.py)."""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from imagefactory.api_docs import RedocView, SwaggerUIView
from imagefactory.core.errors import envelope_response
from imagefactory.core.metrics_http import metrics
from imagefactory.core.schema_cache import CachedSchemaView
from imagefactory.health import healthz, readyz


@csrf_exempt  # an unknown URL is a 404 whatever the method, never a CSRF 403
def api_not_found(request: HttpRequest, *args, **kwargs):
    return envelope_response(404, f"No API endpoint at {request.path}", details={"path": request.path})


api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("tenants.api.urls")),
    path("", include("builds.api.urls")),
    path("", include("triggers.api.urls")),
    path("", include("webhooks.api.urls")),
    path("schema/", CachedSchemaView.as_view(), name="schema"),
    path("docs/", SwaggerUIView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),
    path("", include("web.urls")),
]
