"""How many builds each (tenant, project, status) holds: the exact total_count of the build list
without counting rows.

Maintained by database triggers on builds_build (migration ``build_counts_by_status``), in the
same transaction as the INSERT, the UPDATE of status and the DELETE that change the numbers:
every writer is covered (the services, transition(), cascades from a deleted project or tenant,
fixtures, bulk SQL) without any of them having to remember. Nothing else writes these rows.
"""

from __future__ import annotations

from django.db import models


class BuildCount(models.Model):
    # Plain ids, no foreign keys: the rows of a deleted project drop to zero through the DELETE
    # trigger of its builds, and a cascade that removed them first would race with that trigger.
    tenant_id = models.UUIDField()
    project_id = models.UUIDField()
    status = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "project_id", "status"], name="build_count_key"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.project_id}/{self.status}: {self.count}"
