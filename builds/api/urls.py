from django.urls import path

from builds.api import views

urlpatterns = [
    path("projects", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<str:project_id>", views.ProjectDetailView.as_view(), name="project-detail"),
    path("builds", views.BuildListView.as_view(), name="build-list"),
    path("builds/<str:build_id>", views.BuildDetailView.as_view(), name="build-detail"),
    path("builds/<str:build_id>/start", views.BuildStartView.as_view(), name="build-start"),
    path("builds/<str:build_id>/cancel", views.BuildCancelView.as_view(), name="build-cancel"),
    path("builds/<str:build_id>/retry", views.BuildRetryView.as_view(), name="build-retry"),
    path("builds/<str:build_id>/status", views.BuildStatusView.as_view(), name="build-status"),
    path("builds/<str:build_id>/logs", views.BuildLogsView.as_view(), name="build-logs"),
]
