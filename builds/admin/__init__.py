"""The Django admin of projects and builds, and tenants with their build counts (registered on import)."""

from builds.admin import builds, projects, tenants  # noqa: F401 — each module registers its ModelAdmin
