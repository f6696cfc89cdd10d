"""The Celery app: build tasks on the `builds` queue, the lost-build reaper on beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")

app = Celery("imagefactory")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
