"""Test-only URL map: the real one plus endpoints under /api/ that raise, to exercise the 500 path."""

from django.db import OperationalError
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from imagefactory.urls import urlpatterns as real_urlpatterns

SECRET_TEXT = "boom-secret-internal-detail"


def boom(request):
    raise RuntimeError(SECRET_TEXT)


class BoomView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError(SECRET_TEXT)


def database_down(request):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


class DatabaseDownView(APIView):
    """Fails like a view whose authentication or query meets a database that refuses connections."""

    permission_classes = [AllowAny]

    def get(self, request):
        raise OperationalError("terminating connection due to administrator command")


urlpatterns = [
    path("api/v1/boom/database/django", database_down),
    path("api/v1/boom/database/drf", DatabaseDownView.as_view()),
    path("api/v1/boom/django", boom),
    path("api/v1/boom/drf", BoomView.as_view()),
    *real_urlpatterns,
]
