"""The X-Tenant-ID rule table (issue §4) for every tenant-scoped endpoint and method in the URL map."""

from __future__ import annotations

import uuid

import pytest

from tenants.models import Membership, Tenant, TenantStatus
from tenants.roles import ALL_PERMISSIONS
from tenants.tests.endpoints import (
    BAD_CREDENTIALS,
    ENDPOINTS,
    HANDLER_METHODS,
    api_routes,
    endpoint_params,
    webhook_objects,
)
from testing import assert_envelope, stable_bytes
from webhooks.models import Subscription

pytestmark = pytest.mark.django_db

# The push hook endpoint authenticates by the git host's signature (triggers/tests/test_hooks.py).
EXEMPT_ROUTES = ("api/v1/auth/", "api/v1/schema/", "api/v1/docs/", "api/v1/redoc/", "api/v1/hooks/")
NIL_UUID = "00000000-0000-0000-0000-000000000000"
WRITES = [endpoint for endpoint in ENDPOINTS if endpoint.is_write]
READS = [endpoint for endpoint in ENDPOINTS if not endpoint.is_write]
WITH_PERMISSION = [endpoint for endpoint in ENDPOINTS if endpoint.permission is not None]
DETAIL = [endpoint for endpoint in ENDPOINTS if endpoint.url_kwargs]


# --- the discovery itself -------------------------------------------------------------------


def test_discovery_finds_the_known_endpoints():
    found = {endpoint.id for endpoint in ENDPOINTS}
    assert {
        "GET /api/v1/projects",
        "POST /api/v1/builds",
        "PATCH /api/v1/members/<str:member_id>",
        "POST /api/v1/builds/<str:build_id>/cancel",
    } <= found
    assert set(WRITES) and set(READS) and set(DETAIL)


@pytest.mark.parametrize("route,callback", [pytest.param(r, c, id=r) for r, c in api_routes()])
def test_every_api_view_outside_auth_and_docs_declares_its_permissions(route, callback):
    """A view without required_permissions would escape the rule; so would a handler missing from it."""
    view_class = getattr(callback, "view_class", None)
    if route.startswith(EXEMPT_ROUTES) or view_class is None:
        return
    required = getattr(view_class, "required_permissions", None)
    assert required is not None, f"{route} has no required_permissions"
    handled = {method for method in HANDLER_METHODS if hasattr(view_class, method.lower())}
    assert handled <= set(required), f"{route}: {handled - set(required)} not in required_permissions"
    assert set(required.values()) - {None} <= set(ALL_PERMISSIONS)


# --- 1. authentication ----------------------------------------------------------------------


@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize("endpoint", endpoint_params())
def test_bad_credentials_are_401_before_any_header_check(endpoint, credential, make_user, client_with_token):
    user = make_user()
    raw_token = BAD_CREDENTIALS[credential](user)
    response = endpoint.call(client_with_token(raw_token))  # no X-Tenant-ID either: 401 comes first
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", endpoint_params())
def test_deactivated_member_is_401_even_with_a_valid_tenant(endpoint, api, make_user, make_tenant):
    user = make_user()
    tenant = make_tenant(members={user: "owner"})
    client = api(user, tenant)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert_envelope(endpoint.call(client), 401, "UNAUTHORIZED")


# --- 2. the header --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "acme", "1234", f"{uuid.uuid4()}x", NIL_UUID],
    ids=["missing", "empty", "blank", "name", "number", "uuid-plus", "nil-uuid"],
)
@pytest.mark.parametrize("endpoint", endpoint_params())
def test_missing_or_malformed_tenant_header_is_400(endpoint, header, api, make_user):
    outsider = make_user()  # not a member of anything: 400 comes before 403
    response = endpoint.call(api(outsider, tenant_header=header))
    body = assert_envelope(response, 400, "INVALID_REQUEST")
    assert body["details"]["header"] == "X-Tenant-ID"


# --- 3. membership --------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoint_params())
def test_unknown_and_foreign_tenants_answer_the_same_403(endpoint, api, owner, tenant, make_tenant, make_user):
    foreign = make_tenant(members={make_user(): "owner"})
    unknown = endpoint.call(api(owner, tenant_header=str(uuid.uuid4())))
    other = endpoint.call(api(owner, foreign))
    assert_envelope(unknown, 403, "FORBIDDEN")
    assert_envelope(other, 403, "FORBIDDEN")
    assert stable_bytes(other) == stable_bytes(unknown)


@pytest.mark.parametrize("endpoint", endpoint_params(WRITES))
def test_suspended_foreign_tenant_is_still_the_membership_403(endpoint, api, owner, make_tenant, make_user):
    """A non-member learns nothing, not even that the tenant is suspended."""
    foreign = make_tenant(members={make_user(): "owner"}, status=TenantStatus.SUSPENDED)
    unknown = endpoint.call(api(owner, tenant_header=str(uuid.uuid4())))
    suspended = endpoint.call(api(owner, foreign))
    assert_envelope(suspended, 403, "FORBIDDEN")
    assert stable_bytes(suspended) == stable_bytes(unknown)


# --- 4. suspended tenants -------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoint_params(READS))
def test_suspended_tenant_still_reads(endpoint, owner_api, tenant, tenant_objects):
    Tenant.objects.filter(pk=tenant.pk).update(status=TenantStatus.SUSPENDED)
    response = endpoint.call(owner_api, tenant_objects)
    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize("endpoint", endpoint_params(WRITES))
def test_suspended_tenant_refuses_writes(endpoint, owner_api, tenant, tenant_objects):
    Tenant.objects.filter(pk=tenant.pk).update(status=TenantStatus.SUSPENDED)
    body = assert_envelope(endpoint.call(owner_api, tenant_objects), 403, "FORBIDDEN")
    assert body["details"]["reason"] == "tenant_suspended"


# --- 5. the endpoint's permission -----------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoint_params(WITH_PERMISSION))
def test_role_without_the_permission_is_403_naming_it(endpoint, api, tenant, make_user, make_role):
    """The role has every permission but this one, so the 403 can only come from this one."""
    user = make_user()
    role = make_role(set(ALL_PERMISSIONS) - {endpoint.permission})
    Membership.objects.create(user=user, tenant=tenant, role=role)
    body = assert_envelope(endpoint.call(api(user, tenant)), 403, "FORBIDDEN")
    assert body["details"]["permission"] == endpoint.permission


@pytest.mark.parametrize("role", ["owner", "developer", "viewer"])
@pytest.mark.parametrize("endpoint", endpoint_params(WITH_PERMISSION))
def test_builtin_roles_pass_exactly_when_they_hold_the_permission(endpoint, role, api, roles, tenant, make_user):
    user = make_user()
    Membership.objects.create(user=user, tenant=tenant, role=roles[role])
    response = endpoint.call(api(user, tenant))
    if endpoint.permission in roles[role].permissions:
        assert response.status_code not in (401, 403), response.content[:300]
    else:
        assert assert_envelope(response, 403, "FORBIDDEN")["details"]["permission"] == endpoint.permission


# --- system administrators ------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoint_params())
def test_system_admin_passes_the_tenant_check_without_membership(endpoint, api, tenant, make_user):
    admin = make_user(superuser=True)
    assert not Membership.objects.filter(user=admin).exists()
    response = endpoint.call(api(admin, tenant))  # ids that do not exist: no side effects
    assert response.status_code not in (401, 403), response.content[:300]
    if response.status_code == 400:
        assert response.json()["details"].get("header") != "X-Tenant-ID"


@pytest.mark.parametrize("header", [None, NIL_UUID], ids=["missing", "nil-uuid"])
@pytest.mark.parametrize("endpoint", endpoint_params())
def test_system_admin_still_needs_the_header(endpoint, header, api, make_user):
    admin = make_user(superuser=True)
    body = assert_envelope(endpoint.call(api(admin, tenant_header=header)), 400, "INVALID_REQUEST")
    assert body["details"]["header"] == "X-Tenant-ID"


def test_system_admin_of_an_unknown_tenant_is_403(api, make_user):
    admin = make_user(superuser=True)
    assert_envelope(api(admin, tenant_header=str(uuid.uuid4())).get("/api/v1/projects"), 403, "FORBIDDEN")


# --- objects of another tenant --------------------------------------------------------------


@pytest.fixture
def foreign_objects(make_tenant, make_user, make_project, make_build):
    """The same kinds of objects as `tenant_objects`, in a tenant the caller is no member of."""
    from triggers.services import create_trigger

    foreign_owner = make_user()
    foreign = make_tenant(members={foreign_owner: "owner"})
    project = make_project(foreign, name="foreign-app")
    build = make_build(project, status="failed")
    return {
        "project_id": project.pk,
        "trigger_id": create_trigger(project=project, kind="github")[0].pk,
        "build_id": build.pk,
        "member_id": Membership.objects.get(user=foreign_owner, tenant=foreign).pk,
        **webhook_objects(foreign, foreign_owner, build),
    }


MISSING_IDS = {
    "project_id": uuid.uuid4(),
    "trigger_id": uuid.uuid4(),
    "build_id": uuid.uuid4(),
    "member_id": 2**31 - 7,
    "webhook_id": uuid.uuid4(),
    "delivery_id": uuid.uuid4(),
}


@pytest.mark.parametrize("endpoint", endpoint_params(DETAIL))
def test_another_tenants_object_answers_like_a_missing_one(endpoint, owner_api, foreign_objects):
    unknown_kwargs = set(endpoint.url_kwargs) - set(foreign_objects)
    assert not unknown_kwargs, f"add a foreign object for {unknown_kwargs} to foreign_objects"
    missing = endpoint.call(owner_api, MISSING_IDS)
    foreign = endpoint.call(owner_api, foreign_objects)
    assert_envelope(missing, 404, "NOT_FOUND")
    assert_envelope(foreign, 404, "NOT_FOUND")
    assert stable_bytes(foreign) == stable_bytes(missing)


def test_foreign_objects_are_untouched_by_the_404_writes(owner_api, foreign_objects):
    from builds.models import Build, Project

    for endpoint in [e for e in DETAIL if e.method == "DELETE"]:
        endpoint.call(owner_api, foreign_objects)
    assert Project.objects.filter(pk=foreign_objects["project_id"]).exists()
    assert Build.objects.filter(pk=foreign_objects["build_id"]).exists()
    assert Membership.objects.filter(pk=foreign_objects["member_id"]).exists()
    assert Subscription.objects.filter(pk=foreign_objects["webhook_id"]).exists()
