from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the build tasks by name: Celery workers and the embedded pool look them up there;
        # and the build figures of /metrics (the core, which serves it, imports no app).
        from builds.metrics import collect
        from builds.runner import tasks  # noqa: F401
        from imagefactory.core.metrics import register_collector

        register_collector(collect)
