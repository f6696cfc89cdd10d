"""Test-only URL map: the real one plus endpoints under /api/ that raise, to exercise the 500 path."""

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


urlpatterns = [
    path("api/v1/boom/django", boom),
    path("api/v1/boom/drf", BoomView.as_view()),
    *real_urlpatterns,
]
