from django.urls import path

from builds.api.views import builds, logs, projects

urlpatterns = [
    path("projects", projects.ProjectListView.as_view(), name="project-list"),
    path("projects/<str:project_id>", projects.ProjectDetailView.as_view(), name="project-detail"),
    path("builds", builds.BuildListView.as_view(), name="build-list"),
    path("builds/<str:build_id>", builds.BuildDetailView.as_view(), name="build-detail"),
    path("builds/<str:build_id>/start", builds.BuildStartView.as_view(), name="build-start"),
    path("builds/<str:build_id>/cancel", builds.BuildCancelView.as_view(), name="build-cancel"),
    path("builds/<str:build_id>/retry", builds.BuildRetryView.as_view(), name="build-retry"),
    path("builds/<str:build_id>/status", builds.BuildStatusView.as_view(), name="build-status"),
    path("builds/<str:build_id>/logs", logs.BuildLogsView.as_view(), name="build-logs"),
]
