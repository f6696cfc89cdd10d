"""Tenant writes: creating tenants and managing members, keeping at least one owner."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import User
from imagefactory.core.errors import Conflict, Forbidden, InvalidRequest, NotFound
from tenants.models import Membership, Role, Tenant
from tenants.roles import OWNER_ROLE


def create_tenant(*, name: str, owner: User | None = None) -> Tenant:
    base = slugify(name)[:80] or "tenant"
    with transaction.atomic():
        slug, n = base, 1
        while Tenant.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        tenant = Tenant.objects.create(name=name, slug=slug)
        if owner is not None:
            Membership.objects.create(user=owner, tenant=tenant, role=Role.objects.get(name=OWNER_ROLE))
    return tenant


def _role(name: str) -> Role:
    role = Role.objects.filter(name=name).first()
    if role is None:
        raise InvalidRequest("Unknown role", details={"role": f"No role named '{name}'."})
    return role


def _check_within(role: Role, actor_permissions: frozenset[str]) -> None:
    """Nobody grants, changes or removes a role holding permissions they do not hold themselves:
    otherwise a member manager could make themselves owner, or demote the owner (issue: escalation
    through custom roles). Only holders of every permission can therefore touch owners."""
    missing = sorted(role.permission_set - actor_permissions)
    if missing:
        raise Forbidden(
            f"You cannot grant, change or remove the role '{role.name}': it holds permissions you do not have",
            details={"reason": "role_escalation", "role": role.name, "missing_permissions": missing},
        )


def _lock_owners(membership: Membership) -> tuple[Membership, int]:
    """Locks the tenant row (two demotions of the last two owners cannot both pass), then
    re-reads the membership: a concurrent request may have changed or removed it."""
    Tenant.objects.select_for_update().get(pk=membership.tenant_id)
    current = Membership.objects.select_related("role").filter(pk=membership.pk).first()
    if current is None:
        raise NotFound("Member not found")
    return current, Membership.objects.filter(tenant_id=membership.tenant_id, role__name=OWNER_ROLE).count()


def add_member(*, tenant: Tenant, email: str, role_name: str, actor_permissions: frozenset[str]) -> Membership:
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise InvalidRequest("No such user", details={"email": "No user with this email exists."})
    role = _role(role_name)
    _check_within(role, actor_permissions)
    try:
        with transaction.atomic():
            return Membership.objects.create(user=user, tenant=tenant, role=role)
    except IntegrityError:
        raise Conflict("User is already a member of this tenant", details={"email": email}) from None


@transaction.atomic
def change_member_role(*, membership: Membership, role_name: str, actor_permissions: frozenset[str]) -> Membership:
    role = _role(role_name)
    _check_within(role, actor_permissions)
    membership, owners = _lock_owners(membership)
    _check_within(membership.role, actor_permissions)
    if membership.role.name == OWNER_ROLE and role.name != OWNER_ROLE and owners <= 1:
        raise Conflict("A tenant must keep at least one owner", details={"reason": "last_owner"})
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, membership: Membership, actor_permissions: frozenset[str]) -> None:
    membership, owners = _lock_owners(membership)
    _check_within(membership.role, actor_permissions)
    if membership.role.name == OWNER_ROLE and owners <= 1:
        raise Conflict("A tenant must keep at least one owner", details={"reason": "last_owner"})
    membership.delete()
