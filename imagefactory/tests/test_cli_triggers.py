"""`imagefactory triggers list|create` against a real server: the secret printed once, and it signs deliveries."""

from __future__ import annotations

import json

import pytest
import requests

from triggers.tests.payloads import signed

pytestmark = [pytest.mark.e2e]


def test_create_prints_the_secret_once_and_list_shows_the_delivery_url(cli, stack, project):
    created = cli.run(
        "--json",
        "triggers",
        "create",
        "--project",
        "app",
        "--kind",
        "github",
        "--branch",
        "main",
        "--branch",
        "release/*",
    )
    assert created.code == 0, created
    trigger = json.loads(created.stdout)
    assert trigger["branch_patterns"] == ["main", "release/*"] and trigger["cancel_superseded"] is True
    assert trigger["delivery_url"] == f"{stack.base_url}/api/v1/hooks/{trigger['id']}"

    listed = cli.run("triggers", "list", "--project", str(project.pk))
    assert listed.code == 0, listed
    assert trigger["id"] in listed.stdout and trigger["delivery_url"] in listed.stdout
    assert trigger["secret"] not in listed.stdout

    body, headers = signed("github", trigger["secret"], {"zen": "Keep it logically awesome."}, event="ping")
    ping = requests.post(trigger["delivery_url"], data=body, headers=headers, timeout=30)
    assert (ping.status_code, ping.json()["outcome"]) == (200, "ping")


def test_create_in_text_mode_warns_that_the_secret_is_shown_once(cli, project):
    created = cli.run("triggers", "create", "--project", "app", "--kind", "gitlab", "--no-cancel-superseded")
    assert created.code == 0, created
    assert "secret" in created.stdout and "shown this once" in created.stderr


def test_an_unknown_kind_is_a_usage_error(cli, project):
    assert cli.run("triggers", "create", "--project", "app", "--kind", "svn").code == 3
