"""`imagefactory webhooks list|create|deliveries` end to end, against the session's real server."""

from __future__ import annotations

import json

import pytest

from testing import wait_until

pytestmark = pytest.mark.e2e
TARGET = "https://ci.example.com/hooks/imagefactory"


def test_create_list_and_the_delivery_log(cli, member_client, project):
    created = cli.run("webhooks", "create", TARGET, "--event", "build.created", "--project", project.name)
    assert created.code == 0, created
    fields = dict(line.split(": ", 1) for line in created.lines)
    assert fields["secret"].startswith("whsec_") and "shown only once" in created.stderr
    webhook_id = fields["id"]

    listed = cli.run("webhooks", "list")
    assert listed.code == 0 and webhook_id in listed.stdout and TARGET in listed.stdout, listed
    build = member_client.create_build(project)

    def logged():
        page = json.loads(cli.run("--json", "webhooks", "deliveries", webhook_id).stdout)
        return page["deliveries"]

    (delivery,) = wait_until(logged, timeout=60, what="the build.created delivery in the log")
    assert (delivery["event"], delivery["build_id"]) == ("build.created", build["id"])
    table = cli.run("webhooks", "deliveries", webhook_id)
    assert table.code == 0 and delivery["id"] in table.stdout and "build.created" in table.stdout, table


def test_errors_exit_3(cli):
    assert cli.run("webhooks", "create", "ftp://nope.example.com/x").code == 3
    assert cli.run("webhooks", "deliveries", "00000000-0000-4000-8000-000000000000").code == 3
