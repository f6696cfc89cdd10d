"""The OpenAPI document, generated once per process.

Generating it walks every view and serializer (tens of milliseconds and hundreds of objects); the
document only changes with the code, so serving it must not cost that on every request.
"""

from __future__ import annotations

import threading
from typing import Any

from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response


class CachedSchemaView(SpectacularAPIView):
    _documents: dict[Any, dict] = {}
    _lock = threading.Lock()

    def _get_schema_response(self, request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (self.urlconf, version, self.serve_public)
        with self._lock:
            document = self._documents.get(key)
            if document is None:
                generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
                document = self._documents[key] = generator.get_schema(request=request, public=self.serve_public)
        return Response(
            data=document,
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )
