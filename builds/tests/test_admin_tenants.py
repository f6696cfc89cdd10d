"""Tenants in the admin show their running, waiting and queued builds next to their limits."""

from __future__ import annotations

import re

from django.utils import timezone


def _row(html: str, tenant_name: str) -> str:
    match = re.search(rf"<tr>(?:(?!</tr>).)*>{tenant_name}</a>(?:(?!</tr>).)*</tr>", html, re.S)
    assert match, f"no row for {tenant_name}"
    return match.group(0)


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]


def test_counts_and_limits(admin_browser, settings, make_tenant, make_project, make_build):
    settings.DEFAULT_MAX_RUNNING_BUILDS, settings.DEFAULT_MAX_QUEUED_BUILDS = 4, 100
    busy = make_tenant("busy", max_queued_builds=7)
    make_tenant("idle", max_running_builds=1)
    project = make_project(busy)
    for status, slot in [("queued", None), ("queued", None), ("queued", None), ("in_progress", timezone.now())]:
        make_build(project, status=status, slot_acquired_at=slot)
    make_build(project, status="in_progress")  # waiting for a slot
    make_build(project, status="success")

    html = admin_browser.get("/admin/tenants/tenant/").content.decode()

    # checkbox, name, slug, status, running / limit, waiting, queued / limit, created
    assert _cells(_row(html, "busy"))[4:7] == ["1 / 4", "1", "3 / 7"]
    assert _cells(_row(html, "idle"))[4:7] == ["0 / 1", "0", "0 / 100"]
