"""/members: list, add, change role, remove; a tenant always keeps at least one owner."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from imagefactory.core.errors import NotFound
from tenants.models import Membership
from testing import access_token_for, assert_envelope

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/members"
MEMBER_FIELDS = {"id", "user_id", "email", "name", "role", "created_at"}


def membership_of(user, tenant) -> Membership:
    return Membership.objects.get(user=user, tenant=tenant)


@pytest.fixture
def second_owner(make_user, tenant, roles):
    user = make_user("second-owner@example.com")
    Membership.objects.create(user=user, tenant=tenant, role=roles["owner"])
    return user


# --- list -----------------------------------------------------------------------------------


def test_list_is_paginated_and_shows_the_tenants_members_only(owner_api, owner, tenant, make_user, make_tenant, roles):
    for n in range(3):
        Membership.objects.create(
            user=make_user(f"m{n}@example.com", name=f"M {n}"), tenant=tenant, role=roles["viewer"]
        )
    make_tenant(members={make_user("elsewhere@example.com"): "owner"})
    response = owner_api.get("/api/v1/members?limit=2&page=2")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"members", "total_count", "page", "limit", "has_more"}
    assert body["total_count"] == 4 and body["page"] == 2 and body["limit"] == 2 and body["has_more"] is False
    assert [m["email"] for m in body["members"]] == ["m1@example.com", "m2@example.com"]
    first = owner_api.get("/api/v1/members").json()["members"][0]
    assert set(first) == MEMBER_FIELDS
    assert first == {
        "id": membership_of(owner, tenant).pk,
        "user_id": owner.pk,
        "email": owner.email,
        "name": "",
        "role": "owner",
        "created_at": first["created_at"],
    }


def test_get_one_member(owner_api, owner, tenant):
    membership = membership_of(owner, tenant)
    assert owner_api.get(f"/api/v1/members/{membership.pk}").json()["email"] == owner.email


@pytest.mark.parametrize("member_id", ["0", "-1", "abc", "99999999999999999999999", "1.5"])
def test_malformed_or_missing_member_ids_are_404(owner_api, member_id):
    assert_envelope(owner_api.get(f"/api/v1/members/{member_id}"), 404, "NOT_FOUND")


# --- add ------------------------------------------------------------------------------------


def test_add_an_existing_user_by_email(owner_api, make_user, tenant):
    user = make_user("new@example.com")
    response = owner_api.post("/api/v1/members", {"email": "NEW@example.com", "role": "developer"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["user_id"] == user.pk and response.json()["role"] == "developer"
    assert membership_of(user, tenant).role.name == "developer"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"email": "ghost@example.com", "role": "viewer"}, "email"),
        ({"email": "not-an-email", "role": "viewer"}, "email"),
        ({"role": "viewer"}, "email"),
        ({"email": "new@example.com", "role": "emperor"}, "role"),
        ({"email": "new@example.com"}, "role"),
        ({"email": "new@example.com", "role": "viewer", "tenant": "x"}, "tenant"),
        ({"email": ["new@example.com"], "role": "viewer"}, "email"),
    ],
)
def test_add_validation(owner_api, make_user, body, field):
    make_user("new@example.com")
    details = assert_envelope(owner_api.post("/api/v1/members", body, format="json"), 400)["details"]
    assert isinstance(details[field], str)


def test_adding_an_existing_member_is_409(owner_api, owner):
    response = owner_api.post("/api/v1/members", {"email": owner.email, "role": "viewer"}, format="json")
    assert_envelope(response, 409, "CONFLICT")


# --- change role and remove -----------------------------------------------------------------


def test_change_role(owner_api, make_user, tenant, roles):
    membership = Membership.objects.create(user=make_user(), tenant=tenant, role=roles["viewer"])
    response = owner_api.patch(f"/api/v1/members/{membership.pk}", {"role": "developer"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "developer"
    membership.refresh_from_db()
    assert membership.role.name == "developer"


@pytest.mark.parametrize("body,field", [({"role": "emperor"}, "role"), ({}, "role"), ({"role": "viewer", "x": 1}, "x")])
def test_change_role_validation(owner_api, owner, tenant, body, field):
    response = owner_api.patch(f"/api/v1/members/{membership_of(owner, tenant).pk}", body, format="json")
    assert isinstance(assert_envelope(response, 400)["details"][field], str)


def test_remove_member(owner_api, make_user, tenant, roles):
    membership = Membership.objects.create(user=make_user(), tenant=tenant, role=roles["developer"])
    assert owner_api.delete(f"/api/v1/members/{membership.pk}").status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


# --- the last owner -------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_the_last_owner_can_be_neither_demoted_nor_removed(owner_api, owner, tenant, action):
    url = f"/api/v1/members/{membership_of(owner, tenant).pk}"
    response = owner_api.patch(url, {"role": "viewer"}, format="json") if action == "demote" else owner_api.delete(url)
    assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "last_owner"
    assert membership_of(owner, tenant).role.name == "owner"


def test_the_last_owner_may_keep_the_owner_role(owner_api, owner, tenant):
    response = owner_api.patch(f"/api/v1/members/{membership_of(owner, tenant).pk}", {"role": "owner"}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_one_of_two_owners_may_go_but_not_the_second(owner_api, owner, second_owner, tenant, action):
    def act(user):
        url = f"/api/v1/members/{membership_of(user, tenant).pk}"
        return (
            owner_api.patch(url, {"role": "developer"}, format="json") if action == "demote" else owner_api.delete(url)
        )

    assert act(second_owner).status_code in (200, 204)
    assert_envelope(act(owner), 409, "CONFLICT")
    assert Membership.objects.filter(tenant=tenant, role__name="owner").count() == 1


def test_an_owner_can_step_down_when_another_owner_remains(api, owner, second_owner, tenant):
    response = api(owner, tenant).patch(
        f"/api/v1/members/{membership_of(owner, tenant).pk}", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_concurrent_demotions_of_the_last_two_owners_leave_one(transactional_db, owner, second_owner, tenant, action):
    """Each owner demotes (or removes) the other at the same moment, on real threads and connections."""
    pairs = [(owner, second_owner), (second_owner, owner)]
    tokens = {user.pk: access_token_for(user) for user in (owner, second_owner)}
    targets = {user.pk: membership_of(user, tenant).pk for user in (owner, second_owner)}
    barrier = threading.Barrier(len(pairs))
    statuses: list[int] = []

    def act(actor, target):
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {tokens[actor.pk]}", HTTP_X_TENANT_ID=str(tenant.pk))
        url = f"/api/v1/members/{targets[target.pk]}"
        try:
            barrier.wait(timeout=10)
            response = (
                client.patch(url, {"role": "viewer"}, format="json") if action == "demote" else client.delete(url)
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=act, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Membership.objects.filter(tenant=tenant, role__name="owner").count() >= 1
    success = 200 if action == "demote" else 204
    # The loser either lost its own owner role first (403) or saw one owner left under the lock (409).
    assert sorted(statuses) in ([success, 403], [success, 409]), statuses


@pytest.mark.parametrize("change", ["patch", "delete"])
def test_a_member_removed_meanwhile_answers_404_not_500(tenant, make_user, roles, change):
    from tenants import services
    from tenants.roles import ALL_PERMISSIONS

    everything = frozenset(ALL_PERMISSIONS)
    member = Membership.objects.create(user=make_user(), tenant=tenant, role=roles["viewer"])
    stale = Membership.objects.get(pk=member.pk)  # what a slower concurrent request had loaded
    services.remove_member(membership=member, actor_permissions=everything)

    with pytest.raises(NotFound):
        if change == "patch":
            services.change_member_role(membership=stale, role_name="developer", actor_permissions=everything)
        else:
            services.remove_member(membership=stale, actor_permissions=everything)


# --- no escalation -------------------------------------------------------------------------------


@pytest.fixture
def member_manager(client, make_user, tenant, api):
    """A member whose custom role, created by an operator in the Django admin, may manage members
    (and list them, and read projects) but holds nothing else."""
    from tenants.models import Role

    operator = make_user(superuser=True)
    client.force_login(operator)
    response = client.post(
        "/admin/tenants/role/add/",
        {"name": "member-manager", "permissions": json.dumps(["member:list", "member:manage", "project:read"])},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    role = Role.objects.get(name="member-manager")
    user = make_user()
    membership = Membership.objects.create(user=user, tenant=tenant, role=role)
    return api(user, tenant), membership


@pytest.mark.parametrize(
    "attempt",
    [
        "promote themselves to owner",
        "add a new owner",
        "grant developer",
        "demote the owner",
        "remove the owner",
    ],
)
def test_a_custom_role_cannot_escalate(member_manager, owner, tenant, make_user, attempt):
    manager_api, own_membership = member_manager
    owner_membership = Membership.objects.get(user=owner, tenant=tenant)
    before = sorted(Membership.objects.values_list("user_id", "role__name"))
    newcomer = make_user()
    response = {
        "promote themselves to owner": lambda: manager_api.patch(
            f"{MEMBERS}/{own_membership.pk}", {"role": "owner"}, format="json"
        ),
        "add a new owner": lambda: manager_api.post(MEMBERS, {"email": newcomer.email, "role": "owner"}, format="json"),
        "grant developer": lambda: manager_api.post(
            MEMBERS, {"email": newcomer.email, "role": "developer"}, format="json"
        ),
        "demote the owner": lambda: manager_api.patch(
            f"{MEMBERS}/{owner_membership.pk}", {"role": "viewer"}, format="json"
        ),
        "remove the owner": lambda: manager_api.delete(f"{MEMBERS}/{owner_membership.pk}"),
    }[attempt]()
    body = assert_envelope(response, 403, "FORBIDDEN")
    assert body["details"]["reason"] == "role_escalation" and body["details"]["missing_permissions"]
    assert sorted(Membership.objects.values_list("user_id", "role__name")) == before


def test_a_custom_role_may_grant_what_it_holds(member_manager, make_user, make_role, tenant):
    manager_api, _ = member_manager
    narrower = make_role(["member:list", "project:read"])
    newcomer = make_user()
    response = manager_api.post(MEMBERS, {"email": newcomer.email, "role": narrower.name}, format="json")
    assert response.status_code == 201, response.content
    assert manager_api.delete(f"{MEMBERS}/{response.json()['id']}").status_code == 204


def test_owners_hold_every_permission_and_may_change_any_role(owner_api, make_user, tenant):
    newcomer = make_user()
    added = owner_api.post(MEMBERS, {"email": newcomer.email, "role": "owner"}, format="json")
    assert added.status_code == 201, added.content
    assert owner_api.patch(f"{MEMBERS}/{added.json()['id']}", {"role": "viewer"}, format="json").status_code == 200
