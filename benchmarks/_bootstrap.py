"""Shared start-up of the benchmark scripts: environment defaults, Django, a member and a tenant."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-not-for-production-0123456789")
os.environ.setdefault("RATE_LIMIT_REQUESTS", "100000")


def setup_database(**tenant_fields):
    """Migrates the database (SQLite in IMAGEFACTORY_VAR_DIR, or DATABASE_URL); returns a new owner and tenant."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from tenants.models import Membership, Role, Tenant

    stamp = str(time.time_ns())
    user = User.objects.create_user(email=f"bench-{stamp}@example.com", password="bench-password-9")
    tenant = Tenant.objects.create(name=f"bench-{stamp}", slug=f"bench-{stamp}", **tenant_fields)
    Membership.objects.create(user=user, tenant=tenant, role=Role.objects.get(name="owner"))
    return user, tenant
