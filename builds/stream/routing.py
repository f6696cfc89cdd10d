"""WebSocket routes, served by daphne beside HTTP (imagefactory/asgi.py)."""

from django.urls import path

from builds.stream.consumer import BuildLogStreamConsumer

websocket_urlpatterns = [
    path("api/v1/builds/<str:build_id>/logs/stream", BuildLogStreamConsumer.as_asgi()),
]
