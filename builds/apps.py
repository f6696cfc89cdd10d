from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the build tasks by name: Celery workers and the embedded pool look them up there.
        from builds.runner import tasks  # noqa: F401
