"""Builds in the admin: find them (filters, search, dates), read the end of the log, cancel or retry.

Builds are read-only here. Cancel and retry call the same services as the API, so a move the
state machine refuses becomes an error message on the page, the same refusal the API's 409 gives.
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Q, QuerySet
from django.http import Http404, StreamingHttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from builds import selectors
from builds.models import Build
from builds.services import builds as build_services
from imagefactory.core.errors import ApiError
from imagefactory.core.timestamps import iso_z

LOG_TAIL_LINES = 200
CANCEL_REASON = "Cancelled by an operator in the admin"


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = (
        "build_number",
        "project",
        "tenant",
        "status",
        "failure_kind",
        "git_branch",
        "short_commit",
        "created_by",
        "created_at",
        "completed_at",
    )
    list_display_links = ("build_number", "project")
    list_filter = ("status", "failure_kind", "tenant", "project")
    list_select_related = ("project", "tenant", "created_by")
    search_fields = ("git_branch", "git_commit", "source_commit")
    search_help_text = "A build id, a build number, a branch or a commit (prefix)."
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    actions = ("cancel_builds", "retry_builds")
    fieldsets = (
        (None, {"fields": ("id", "tenant", "project", "build_number", "status", "failure_kind", "retry_of")}),
        ("Request", {"fields": ("git_branch", "git_commit", "build_args", "created_by", "created_at")}),
        (
            "Progress",
            {
                "fields": (
                    "worker",
                    "started_at",
                    "heartbeat_at",
                    "completed_at",
                    "current_step",
                    "total_steps",
                    "step_name",
                )
            },
        ),
        ("Result", {"fields": ("source_commit", "image_reference", "image_digest", "error_message", "cancel_reason")}),
        ("Log", {"fields": ("log_line_count", "log_tail")}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # builds are created by POST /builds, which numbers them and checks the queue limit

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a running build is never deleted; DELETE /builds/{id} knows when it may be

    def get_readonly_fields(self, request, obj=None):
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    @admin.display(description="commit")
    def short_commit(self, build: Build) -> str:
        return (build.source_commit or build.git_commit or "")[:12]

    @admin.display(description=f"last {LOG_TAIL_LINES} lines")
    def log_tail(self, build: Build) -> str:
        lines = reversed(list(build.log_lines.order_by("-seq")[:LOG_TAIL_LINES]))
        text = format_html_join(
            "\n", "{} {:<5} {}", ((iso_z(line.timestamp), line.level, line.message) for line in lines)
        )
        link = reverse("admin:builds_build_log", args=[build.pk])
        return format_html(
            '<p><a href="{}">Full log as text</a></p><pre style="max-height: 40em; overflow: auto">{}</pre>', link, text
        )

    def get_search_results(self, request, queryset: QuerySet[Build], search_term: str):
        """Branches and commits by the default search; a term that is a UUID or a number matches ids too.

        `queryset` already has the list's filters applied: the id matches are taken from it, not
        from all builds, so a tenant filter still holds when searching by build number.
        """
        filtered = queryset
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        exact = Q()
        try:
            exact |= Q(pk=uuid.UUID(term))
        except ValueError:
            pass
        if term.isdigit():
            exact |= Q(build_number=int(term))
        if exact:
            queryset |= filtered.filter(exact)
        return queryset, may_have_duplicates

    def get_urls(self):
        log_view = self.admin_site.admin_view(self.log_text_view)
        return [path("<uuid:build_id>/log.txt", log_view, name="builds_build_log"), *super().get_urls()]

    def log_text_view(self, request, build_id):
        """The whole log as plain text, streamed like the API's ?format=text."""
        build = Build.objects.filter(pk=build_id).only("pk", "build_number").first()
        if build is None or not self.has_view_permission(request, build):
            raise Http404("No such build")
        lines = selectors.log_text(build.pk, under_asgi=isinstance(request, ASGIRequest))
        response = StreamingHttpResponse(lines, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="build-{build.build_number}.log"'
        return response

    @admin.action(description="Cancel selected builds", permissions=["change"])
    def cancel_builds(self, request, queryset: QuerySet[Build]) -> None:
        self._apply(
            request,
            queryset,
            "cancelled",
            lambda build: build_services.cancel_build(build=build, user=request.user, reason=CANCEL_REASON),
        )

    @admin.action(description="Retry selected builds", permissions=["change"])
    def retry_builds(self, request, queryset: QuerySet[Build]) -> None:
        self._apply(
            request, queryset, "retried", lambda build: build_services.retry_build(build=build, user=request.user)
        )

    def _apply(self, request, queryset: QuerySet[Build], done: str, move) -> None:
        """One service call per build; each refusal is an error message naming the build, never a 500."""
        succeeded = 0
        for build in queryset.select_related("project", "tenant"):
            try:
                move(build)
            except ApiError as error:
                self.message_user(
                    request,
                    f"Build #{build.build_number} of {build.project.name} was not {done}: {error.detail}",
                    messages.ERROR,
                )
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} build(s) {done}.", messages.SUCCESS)
