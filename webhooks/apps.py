from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from builds.signals import build_changed
        from webhooks import receivers, tasks  # noqa: F401 — tasks registers webhooks.deliver by name

        build_changed.connect(receivers.record_build_event, dispatch_uid="webhooks.record_build_event")
