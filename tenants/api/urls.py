from django.urls import path

from tenants.api import views

urlpatterns = [
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    path("members", views.MemberListView.as_view(), name="member-list"),
    path("members/<str:member_id>", views.MemberDetailView.as_view(), name="member-detail"),
]
