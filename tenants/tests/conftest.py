"""Fixtures of the tenant tests: clients with arbitrary tokens, custom roles, real objects of a tenant."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def client_with_token(api):
    """client_with_token(raw_token or None, tenant_header or None) -> APIClient."""
    return lambda raw_token, tenant_header=None: api(token=raw_token, tenant_header=tenant_header)


@pytest.fixture
def make_role(db):
    """make_role(permissions) -> a Role holding exactly those permission strings."""
    from tenants.models import Role

    def make(permissions) -> Role:
        return Role.objects.create(name=f"role-{uuid.uuid4().hex[:8]}", permissions=sorted(permissions))

    return make


@pytest.fixture
def tenant_objects(tenant, owner, make_project, make_build):
    """Real objects of `tenant`, by URL keyword, so detail endpoints find something."""
    from tenants.models import Membership
    from tenants.tests.endpoints import webhook_objects
    from triggers.services import create_trigger

    project = make_project(tenant, name="rule-app")
    build = make_build(project, status="failed")
    return {
        "project_id": project.pk,
        "trigger_id": create_trigger(project=project, kind="github")[0].pk,
        "build_id": build.pk,
        "member_id": Membership.objects.get(user=owner, tenant=tenant).pk,
        **webhook_objects(tenant, owner, build),
    }
