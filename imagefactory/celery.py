"""The Celery app: build tasks on the `builds` queue; each worker also runs the lost-build reaper."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")

app = Celery("imagefactory")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
