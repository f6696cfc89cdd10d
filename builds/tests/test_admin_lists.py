"""Every admin list page costs the same number of queries at 10 rows as at 100 (one full page)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

PAGE_ROWS = 100  # the admin's list_per_page: 100 rows is one full page


def _label() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def add_rows(make_user, make_tenant, make_project, make_build, roles):
    """add_rows[model](n) -> adds n rows of that model, each with the relations its list page shows."""
    from tenants.models import Membership, Role

    def users(count):
        for _ in range(count):
            make_user()

    def tenants(count):
        for _ in range(count):
            tenant = make_tenant(f"t-{_label()}")
            project = make_project(tenant)
            make_build(project, status="queued")
            make_build(project, status="in_progress")

    def role_rows(count):
        for _ in range(count):
            Role.objects.create(name=f"role-{_label()}", permissions=["build:read"])

    def memberships(count):
        tenant = make_tenant(f"t-{_label()}")
        for _ in range(count):
            Membership.objects.create(user=make_user(), tenant=tenant, role=roles["viewer"])

    def projects(count):
        tenant = make_tenant(f"t-{_label()}")
        for _ in range(count):
            make_project(tenant, registry_username="robot", registry_password="s3cret", git_password="tok")

    def builds(count):
        for _ in range(count):
            tenant = make_tenant(f"t-{_label()}")
            make_build(make_project(tenant), status="failed", failure_kind="build_error", git_commit="a" * 40)

    return {
        "accounts/user": users,
        "tenants/tenant": tenants,
        "tenants/role": role_rows,
        "tenants/membership": memberships,
        "builds/project": projects,
        "builds/build": builds,
    }


def _rows_on_page(response) -> int:
    return response.content.decode().count('name="_selected_action"')


@pytest.mark.parametrize(
    "page", ["accounts/user", "tenants/tenant", "tenants/role", "tenants/membership", "builds/project", "builds/build"]
)
def test_list_page_queries_do_not_grow_with_rows(admin_browser, add_rows, page):
    from django.apps import apps

    app_label, model_name = page.split("/")
    model = apps.get_model(app_label, model_name)
    url = f"/admin/{page}/"

    def rows_and_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = admin_browser.get(url)
        assert response.status_code == 200
        return _rows_on_page(response), len(queries)

    add_rows[page](10 - model.objects.count())  # the operator and the built-in roles count too
    small_rows, small_queries = rows_and_queries()
    add_rows[page](PAGE_ROWS - model.objects.count())
    full_rows, full_queries = rows_and_queries()

    assert (small_rows, full_rows) == (10, PAGE_ROWS)
    assert full_queries == small_queries, f"{page}: {small_queries} queries at 10 rows, {full_queries} at 100"
