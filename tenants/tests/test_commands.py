"""manage.py create_tenant NAME [--owner EMAIL]."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import CommandError, call_command

from tenants.models import Membership, Tenant

pytestmark = pytest.mark.django_db


def create_tenant(*args: str) -> str:
    out = io.StringIO()
    call_command("create_tenant", *args, stdout=out)
    return out.getvalue()


def test_prints_the_new_tenants_uuid_and_nothing_else(roles):
    output = create_tenant("Acme Corp")
    tenant = Tenant.objects.get(pk=uuid.UUID(output.strip()))
    assert output == f"{tenant.pk}\n"
    assert tenant.name == "Acme Corp" and tenant.slug == "acme-corp" and tenant.status == "active"
    assert not tenant.memberships.exists()


def test_owner_becomes_a_member_with_the_owner_role(make_user, roles):
    owner = make_user("boss@example.com")
    tenant_id = create_tenant("Acme", "--owner", "BOSS@example.com").strip()
    membership = Membership.objects.get(tenant_id=tenant_id)
    assert membership.user == owner and membership.role.name == "owner"


def test_same_name_twice_gets_distinct_slugs(roles):
    first, second = create_tenant("Twin").strip(), create_tenant("Twin").strip()
    assert first != second
    assert sorted(Tenant.objects.values_list("slug", flat=True)) == ["twin", "twin-2"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["Acme", "--owner", "ghost@example.com"], "No user with email ghost@example.com"),
        (["   "], "must not be blank"),
    ],
)
def test_errors_create_nothing(roles, args, message):
    with pytest.raises(CommandError, match=message):
        create_tenant(*args)
    assert not Tenant.objects.exists()
