"""The Celery app (`celery -A imagefactory worker -Q builds`). Each worker also runs the build janitor.

Tasks are registered by the apps themselves when Django starts (builds/apps.py), in workers and in
the embedded server alike, and are sent by name (imagefactory/core/jobs.py).
"""

import logging.config
import os

from celery import Celery
from celery.signals import setup_logging
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")

app = Celery("imagefactory")
app.config_from_object("django.conf:settings", namespace="CELERY")


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Workers log like the server (LOG_FORMAT, the context ids) instead of Celery's own format."""
    logging.config.dictConfig(settings.LOGGING)
