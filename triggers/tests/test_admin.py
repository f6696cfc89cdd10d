"""Triggers in the Django admin: listed, their recent deliveries shown, their secret never."""

from __future__ import annotations

import pytest

from triggers.models import TriggerDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(client, make_user):
    client.force_login(make_user("operator@example.com", superuser=True))
    return client


def test_the_change_page_shows_the_last_deliveries_but_not_the_secret(admin_browser, project, make_trigger, deliver):
    trigger, secret = make_trigger(project)
    deliver(trigger, secret, delivery="first-delivery")
    deliver(trigger, secret, delivery="ignored-delivery", branch="elsewhere")

    listing = admin_browser.get("/admin/triggers/trigger/")
    page = admin_browser.get(f"/admin/triggers/trigger/{trigger.pk}/change/")

    assert listing.status_code == 200 and str(trigger.pk) in listing.content.decode()
    assert page.status_code == 200
    html = page.content.decode()
    assert "first-delivery" in html and "ignored-delivery" in html
    assert secret not in html and secret not in listing.content.decode()
    assert TriggerDelivery.objects.filter(trigger=trigger).count() == 2
