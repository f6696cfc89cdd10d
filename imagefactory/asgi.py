"""ASGI entry point: HTTP through Django, WebSockets through Channels, one daphne process."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")
# This process never forks, so it may pool its PostgreSQL connections (see DATABASES in settings).
os.environ.setdefault("DATABASE_POOL_SIZE", "20")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

import imagefactory.celery  # noqa: E402, F401 — services mode queues builds through this app
from builds.runner import janitor  # noqa: E402
from builds.runner.host import check_build_host  # noqa: E402
from builds.stream.routing import websocket_urlpatterns  # noqa: E402
from webhooks import sweeper as webhook_sweeper  # noqa: E402

if not settings.SERVICES_MODE:
    # Embedded mode: this process runs the builds, so it checks its host and cleans up after them too.
    check_build_host()
    janitor.start()
    webhook_sweeper.start()  # and re-queues webhook deliveries whose retry timer was lost

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
