"""The web UI's pages: thin views over builds.selectors (reads) and builds.services (writes)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from rest_framework import serializers

from accounts.services import check_login_allowed, record_login_outcome, stream_access_token
from builds import selectors
from builds.api.serializers import BuildCreateSerializer
from builds.services import builds as build_services
from imagefactory.core.errors import ApiError, RateLimited
from imagefactory.core.ratelimit import client_address
from tenants import roles
from tenants.access import SESSION_TENANT_KEY, resolve_tenant_access
from triggers import selectors as trigger_selectors
from web.access import tenant_page
from web.forms import BuildForm

RECENT_BUILDS = 25
RECENT_DELIVERIES = 5


class RateLimitedAuthenticationForm(AuthenticationForm):
    """Django's login form under the API login's limits (failures per email and client address)."""

    def clean(self):
        email, address = self.data.get("username", ""), client_address(self.request)
        try:
            check_login_allowed(email=email, address=address)
        except RateLimited as refusal:
            raise ValidationError(refusal.message, code="rate_limited") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            record_login_outcome(email=email, address=address, succeeded=False)
            raise
        record_login_outcome(email=email, address=address, succeeded=True)
        return cleaned


class LoginView(auth_views.LoginView):
    form_class = RateLimitedAuthenticationForm
    redirect_authenticated_user = True


def _recent_builds(tenant, project=None):
    builds = selectors.builds_for(tenant)
    if project is not None:
        builds = builds.filter(project=project)
    return builds.select_related("project", "created_by").order_by("-created_at")[:RECENT_BUILDS]


def _build_or_404(request, build_id):
    build = selectors.builds_for(request.tenant_access.tenant).select_related("project", "created_by")
    build = build.filter(pk=build_id).first()
    if build is None:
        raise Http404("Build not found")  # another tenant's build looks exactly like a missing one
    return build


def _build_context(request, build) -> dict:
    access = request.tenant_access
    writable = not access.tenant.is_suspended
    return {
        "build": build,
        "status": selectors.build_status(build),
        "can_start": writable and access.has(roles.BUILD_CREATE) and build.status == "queued",
        "can_cancel": writable and access.has(roles.BUILD_CANCEL) and build.status in ("queued", "in_progress"),
        "can_retry": writable and access.has(roles.BUILD_CREATE) and build.status in ("failed", "cancelled"),
    }


@require_GET
@tenant_page(roles.BUILD_LIST)
def home(request):
    access = request.tenant_access
    return render(
        request,
        "web/home.html",
        {
            "builds": _recent_builds(access.tenant),
            "can_create": access.has(roles.BUILD_CREATE) and not access.tenant.is_suspended,
        },
    )


@require_GET
@tenant_page(roles.PROJECT_READ)
def project_detail(request, project_id):
    """A project, its recent builds and, for those who manage it, its build triggers and their last deliveries."""
    access = request.tenant_access
    project = selectors.projects_for(access.tenant).filter(pk=project_id).first()
    if project is None:
        raise Http404("Project not found")
    triggers = None
    if access.has(roles.PROJECT_MANAGE):
        triggers = list(trigger_selectors.triggers_for(access.tenant, project))
        deliveries = trigger_selectors.recent_deliveries_of(triggers, per_trigger=RECENT_DELIVERIES)
        for trigger in triggers:
            trigger.recent = deliveries[trigger.pk]
            trigger.delivery_url = request.build_absolute_uri(reverse("trigger-hook", args=[trigger.pk]))
    builds = None
    if access.has(roles.BUILD_LIST):
        builds = _recent_builds(access.tenant, project)
    return render(request, "web/project_detail.html", {"project": project, "triggers": triggers, "builds": builds})


@require_GET
@tenant_page(roles.BUILD_LIST)
def build_rows(request):
    """The list's rows alone: what the home page polls to stay live."""
    return render(request, "web/build_rows.html", {"builds": _recent_builds(request.tenant_access.tenant)})


@require_GET
@tenant_page(roles.BUILD_READ)
def build_detail(request, build_id):
    return render(request, "web/build_detail.html", _build_context(request, _build_or_404(request, build_id)))


@require_GET
@tenant_page(roles.BUILD_READ)
def build_panel(request, build_id):
    """Status, progress, image and buttons alone: what the build page polls to stay live."""
    return render(request, "web/build_panel.html", _build_context(request, _build_or_404(request, build_id)))


@require_GET
@tenant_page(roles.BUILD_READ)
def build_stream_token(request, build_id):
    """A short-lived access token for the log WebSocket, which knows no sessions (builds/stream/consumer.py).

    Same-origin JSON: another site's page can make the browser send this GET but cannot read it.
    """
    build = _build_or_404(request, build_id)
    return JsonResponse(
        {"token": stream_access_token(request.user), "tenant_id": str(build.tenant_id)},
        headers={"Cache-Control": "no-store"},
    )


ACTIONS = {
    "start": (roles.BUILD_CREATE, build_services.start_build, "Build started."),
    "cancel": (roles.BUILD_CANCEL, build_services.cancel_build, "Build cancelled."),
    "retry": (roles.BUILD_CREATE, build_services.retry_build, "Build retried."),
}


@require_POST
@login_required
def build_action(request, build_id, action):
    if action not in ACTIONS:
        raise Http404("No such action")
    permission, service, done = ACTIONS[action]

    @tenant_page(permission, write=True)
    def act(request):
        build = _build_or_404(request, build_id)
        try:
            result = service(build=build, user=request.user)
        except ApiError as refusal:
            messages.error(request, refusal.message)
            return redirect("web:build-detail", build_id=build.pk)
        messages.success(request, done)
        return redirect("web:build-detail", build_id=result.pk)

    return act(request)


@tenant_page(roles.BUILD_CREATE, write=True)
def build_new(request):
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    tenant = request.tenant_access.tenant
    projects = selectors.projects_for(tenant).order_by("name")
    form = BuildForm(request.POST or None, projects=projects, initial={"project": request.GET.get("project")})
    if request.method == "POST" and form.is_valid():
        try:
            data = BuildCreateSerializer.validated(form.api_input())
        except serializers.ValidationError as invalid:
            for field, errors in invalid.detail.items():
                form.add_error(field if field in form.fields else None, [str(e) for e in errors])
        else:
            project = projects.filter(pk=data["project_id"]).first()
            try:
                build = build_services.create_build(
                    tenant=tenant,
                    project=project,
                    user=request.user,
                    git_branch=data["git_branch"],
                    git_commit=data.get("git_commit"),
                    build_args=data.get("build_args"),
                )
                if form.cleaned_data["start"]:
                    build = build_services.start_build(build=build, user=request.user)
            except ApiError as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(request, f"Build #{build.build_number} created.")
                return redirect("web:build-detail", build_id=build.pk)
    return render(request, "web/build_new.html", {"form": form, "has_projects": projects.exists()})


@require_POST
@login_required
def choose_tenant(request):
    """The navbar's selector: checks the choice by the tenant rule, then keeps it in the session."""
    chosen = request.POST.get("tenant_id", "")
    try:
        access = resolve_tenant_access(user=request.user, tenant_header=chosen, write=False, permission=None)
    except ApiError as refusal:
        messages.error(request, refusal.message)
    else:
        request.session[SESSION_TENANT_KEY] = str(access.tenant.pk)
        messages.success(request, f"Tenant: {access.tenant.name}")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = "web:home"
    return redirect(target)
