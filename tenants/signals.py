"""Open log streams hear of membership and role changes at once (the API's and the admin's alike),
and the cached tenant access of every request is dropped on any membership, role or tenant change.

A stream re-checks its client's access when told (builds/stream/consumer.py); this is only the
push, after the change commits: the check itself reads the database like any request does.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from imagefactory.core.channels import notify_access_changed
from tenants.access_cache import access_changed
from tenants.models import Membership, Role, Tenant


def _access_changed_now_and_after_commit() -> None:
    """Now: this transaction's own later reads (which see the change) do not meet entries from
    before it. After commit: entries that other transactions built meanwhile from the old rows go."""
    access_changed()
    transaction.on_commit(access_changed)


def _notify_after_commit(user_ids: list) -> None:
    _access_changed_now_and_after_commit()

    def notify() -> None:
        for user_id in user_ids:
            notify_access_changed(user_id)

    transaction.on_commit(notify)


@receiver([post_save, post_delete], sender=Membership)
def membership_changed(sender, instance: Membership, **kwargs) -> None:
    _notify_after_commit([instance.user_id])


@receiver(post_save, sender=Role)
def role_changed(sender, instance: Role, created: bool, **kwargs) -> None:
    if not created:
        _notify_after_commit(list(instance.memberships.values_list("user_id", flat=True)))


@receiver([post_save, post_delete], sender=Tenant)
@receiver(post_delete, sender=Role)
def tenant_changed(sender, instance, **kwargs) -> None:
    """Suspension, limits, deletion: the tenant a cached access carries is stale."""
    _access_changed_now_and_after_commit()
