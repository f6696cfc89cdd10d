"""The navbar's tenant selector, for every page (web UI, browsable API), read only when a page shows it."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from tenants import selectors
from tenants.access import SESSION_TENANT_KEY


def tenancy(request) -> dict:
    user = getattr(request, "user", None)

    def choices() -> list:
        if user is None or not user.is_authenticated:
            return []
        return list(selectors.tenants_choosable_by(user).values("id", "name"))

    # Lazy: pages that never show the selector (the admin) make no query for it.
    return {
        "tenant_choices": SimpleLazyObject(choices),
        "chosen_tenant_id": request.session.get(SESSION_TENANT_KEY, "") if hasattr(request, "session") else "",
    }
