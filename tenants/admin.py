from django.contrib import admin

from tenants.models import Membership, Role, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "status", "max_queued_builds", "max_running_builds", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "permissions")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    list_select_related = ("user", "tenant", "role")
    search_fields = ("user__email", "tenant__name", "tenant__slug")
    autocomplete_fields = ["user"]
