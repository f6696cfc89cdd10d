"""The API's documentation pages (Swagger UI, ReDoc), served from this server's static files only."""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

# Only this server: the pages hold users' tokens, and must work on a machine without internet.
# Swagger UI and ReDoc set inline styles; ReDoc runs its search index in a blob: worker; the
# schema's and Swagger UI's images are data: URIs. None of these leaves the machine.
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMixin:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class SwaggerUIView(ContentSecurityPolicyMixin, SpectacularSwaggerSplitView):
    """Swagger UI; its init script is a second request (?script), so no inline script is needed."""


class RedocView(ContentSecurityPolicyMixin, SpectacularRedocView):
    """ReDoc, with a template that loads no web fonts from outside."""

    template_name = "api_docs/redoc.html"
