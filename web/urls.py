from django.contrib.auth import views as auth_views
from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only (Django 5)
    path("", views.home, name="home"),
    path("tenant/", views.choose_tenant, name="choose-tenant"),
    path("projects/<uuid:project_id>/", views.project_detail, name="project-detail"),
    path("builds/rows/", views.build_rows, name="build-rows"),
    path("builds/new/", views.build_new, name="build-new"),
    path("builds/<uuid:build_id>/", views.build_detail, name="build-detail"),
    path("builds/<uuid:build_id>/panel/", views.build_panel, name="build-panel"),
    path("builds/<uuid:build_id>/stream-token/", views.build_stream_token, name="build-stream-token"),
    path("builds/<uuid:build_id>/<str:action>/", views.build_action, name="build-action"),
]
