"""The Celery app (`celery -A imagefactory worker -Q builds`). Each worker also runs the build janitor.

Tasks are registered by the apps themselves when Django starts (builds/apps.py), in workers and in
the embedded server alike, and are sent by name (imagefactory/core/jobs.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")

app = Celery("imagefactory")
app.config_from_object("django.conf:settings", namespace="CELERY")
