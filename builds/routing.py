from django.urls import path

from builds.consumers import BuildLogStreamConsumer

websocket_urlpatterns = [
    path("api/v1/builds/<str:build_id>/logs/stream", BuildLogStreamConsumer.as_asgi()),
]
