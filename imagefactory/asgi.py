"""ASGI entry point: HTTP through Django, WebSockets through Channels, one daphne process."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from builds.dispatch import start_embedded_services  # noqa: E402
from builds.routing import websocket_urlpatterns  # noqa: E402

start_embedded_services()  # embedded mode: the lost-build reaper timer; no-op with Redis

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": URLRouter(websocket_urlpatterns),
})
