from django.urls import path

from triggers.api import views

urlpatterns = [
    path("projects/<str:project_id>/triggers", views.TriggerListView.as_view(), name="trigger-list"),
    path(
        "projects/<str:project_id>/triggers/<str:trigger_id>", views.TriggerDetailView.as_view(), name="trigger-detail"
    ),
    path(
        "projects/<str:project_id>/triggers/<str:trigger_id>/rotate-secret",
        views.TriggerRotateSecretView.as_view(),
        name="trigger-rotate-secret",
    ),
    path(
        "projects/<str:project_id>/triggers/<str:trigger_id>/deliveries",
        views.TriggerDeliveryListView.as_view(),
        name="trigger-deliveries",
    ),
    path("hooks/<str:trigger_id>", views.HookView.as_view(), name="trigger-hook"),
]
