"""The project page: its build triggers with their delivery URL and last deliveries, for those who manage them."""

from __future__ import annotations

import uuid

import pytest

from triggers.services import create_trigger
from triggers.tests.payloads import PAYLOADS, django_headers, signed

pytestmark = pytest.mark.django_db

COMMIT = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"


def push(client, trigger, secret, **changes):
    payload = PAYLOADS[trigger.kind](repository_url=trigger.project.repository_url, commit=COMMIT, **changes)
    body, headers = signed(trigger.kind, secret, payload, delivery=f"delivery-{uuid.uuid4()}")
    return client.generic("POST", f"/api/v1/hooks/{trigger.pk}", body, **django_headers(headers))


def test_an_owner_sees_the_triggers_delivery_url_and_last_deliveries(browser_for, owner, tenant, project, client):
    trigger, secret = create_trigger(project=project, kind="github", branch_patterns=["main", "release/*"])
    built = push(client, trigger, secret).json()
    ignored = push(client, trigger, secret, branch="feature/x").json()

    page = browser_for(owner, tenant).get(f"/projects/{project.pk}/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f"http://testserver/api/v1/hooks/{trigger.pk}" in html
    assert "main, release/*" in html
    assert f'data-delivery-id="{built["delivery_id"]}"' in html
    assert f'data-delivery-id="{ignored["delivery_id"]}"' in html
    assert f"/builds/{built['build_id']}/" in html
    assert "matches none of main, release/*" in html
    assert secret not in html


def test_a_developer_sees_the_project_but_not_its_triggers(browser_for, member_of, tenant, project):
    trigger, _ = create_trigger(project=project, kind="gitlab")
    page = browser_for(member_of(tenant, "developer"), tenant).get(f"/projects/{project.pk}/")
    assert page.status_code == 200
    assert project.repository_url in page.content.decode()
    assert str(trigger.pk) not in page.content.decode()


def test_another_tenants_project_is_the_404_page(browser_for, owner, tenant, other_tenant, make_project):
    foreign = make_project(other_tenant, name="foreign")
    browser = browser_for(owner, tenant)
    assert browser.get(f"/projects/{foreign.pk}/").status_code == browser.get(f"/projects/{uuid.uuid4()}/").status_code
    assert browser.get(f"/projects/{foreign.pk}/").status_code == 404
