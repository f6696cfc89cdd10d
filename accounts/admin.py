from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts import services
from accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "is_active", "is_superuser")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    actions = ["sign_out_everywhere"]

    @admin.action(description="Sign out everywhere (revoke every token, session and open log stream)")
    def sign_out_everywhere(self, request, queryset) -> None:
        users = list(queryset)
        for user in users:
            services.sign_out_everywhere(user)
        self.message_user(request, f"Signed out {len(users)} user(s) everywhere.", messages.SUCCESS)
