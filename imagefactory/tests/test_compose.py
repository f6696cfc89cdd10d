"""docker-compose.yml agrees with the code: the variables it sets are read, its URLs name its services,
its commands exist."""

from __future__ import annotations

import ast
import importlib
import json
import re
import shlex
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import get_commands

from testing import ROOT

ENV_READERS = {"env_bool", "env_int", "env_list"}  # imagefactory/settings.py's helpers


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def app_services(services) -> dict:
    """The services that run this code (built from the Dockerfile)."""
    return {name: service for name, service in services.items() if "build" in service}


@pytest.fixture(scope="module")
def settings_variables() -> dict[str, object]:
    """Every environment variable imagefactory/settings.py reads -> its default (None if not a literal)."""
    tree = ast.parse((ROOT / "imagefactory" / "settings.py").read_text())
    read: dict[str, object] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        func = node.func
        from_environ = (
            isinstance(func, ast.Attribute) and func.attr == "get" and ast.unparse(func.value) == "os.environ"
        )
        if from_environ or (isinstance(func, ast.Name) and func.id in ENV_READERS):
            default = node.args[1] if len(node.args) > 1 else None
            read[node.args[0].value] = default.value if isinstance(default, ast.Constant) else None
    return read


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port


def test_the_settings_reader_sees_the_variables_it_must(settings_variables):
    # A guard on the parser above: were it to find nothing, the next test would pass vacuously.
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "BUILD_QUEUE"} <= set(settings_variables)


def test_every_variable_an_app_service_sets_is_read_by_the_settings(app_services, settings_variables):
    assert app_services, "no service builds this repository"
    for name, service in app_services.items():
        unknown = set(service.get("environment", {})) - set(settings_variables)
        assert not unknown, f"{name} sets variables imagefactory/settings.py never reads: {sorted(unknown)}"


def test_database_url_names_the_postgres_service_and_its_credentials(app_services, services):
    for service in app_services.values():
        url = urlsplit(service["environment"]["DATABASE_URL"])
        assert url.scheme in ("postgres", "postgresql")
        database = services[url.hostname]
        assert database["image"].startswith("postgres:")
        env = database["environment"]
        assert (url.username, url.password, url.path.lstrip("/")) == (
            env["POSTGRES_USER"],
            env["POSTGRES_PASSWORD"],
            env["POSTGRES_DB"],
        )
        assert url.port in (None, 5432)


def test_redis_url_names_the_redis_service(app_services, services):
    for service in app_services.values():
        host, port = _host_port(service["environment"]["REDIS_URL"])
        assert services[host]["image"].startswith("redis:")
        assert port in (None, 6379)


def test_the_registry_service_is_registry_2_on_loopback_and_the_workers_know_it(app_services, services):
    registry = services["registry"]
    assert registry["image"] == "registry:2"
    assert registry["ports"] and all(port.startswith("127.0.0.1:") for port in registry["ports"])
    assert all(port.endswith(":5000") for port in registry["ports"])  # registry:2 listens on 5000
    for service in app_services.values():
        # Plain HTTP to the compose registry is allowed, by the name workers reach it under.
        assert "registry:5000" in service["environment"]["INSECURE_REGISTRIES"].split(",")
    assert "registry" in services["worker"]["depends_on"]


def test_every_dependency_and_named_volume_exists(compose, services):
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name} mounts undeclared volume {source}"


def _dockerfile_cmd() -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    return json.loads(next(line for line in reversed(lines) if line.startswith("CMD "))[4:])


def test_every_command_exists(app_services, settings_variables):
    checked, consumed = set(), set()
    for name, service in app_services.items():
        command = service.get("command") or _dockerfile_cmd()
        if isinstance(command, str):
            command = shlex.split(command)
        program = command[0]
        if program == "python":
            assert command[1] == "manage.py" and command[2] in get_commands(), f"{name}: {command}"
        elif program == "celery":
            app_module = command[command.index("-A") + 1]
            assert hasattr(importlib.import_module(f"{app_module}.celery"), "app"), f"{name}: {command}"
            assert "-Q" in command, f"{name}: a worker must name its queue"
            # Compose sets no BUILD_QUEUE/WEBHOOK_QUEUE: workers consume the queues jobs are sent to by default.
            queues = set(command[command.index("-Q") + 1].split(","))
            assert queues <= {settings_variables["BUILD_QUEUE"], settings_variables["WEBHOOK_QUEUE"]}, name
            consumed |= queues
        elif program == "daphne":
            module, attribute = command[-1].split(":")
            assert hasattr(importlib.import_module(module), attribute), f"{name}: {command}"
        else:
            pytest.fail(f"{name}: unexpected command {command}")
        checked.add(program)
    assert checked == {"python", "celery", "daphne"}  # migrate, workers, web (the Dockerfile's CMD)
    assert consumed == {settings_variables["BUILD_QUEUE"], settings_variables["WEBHOOK_QUEUE"]}


def test_the_published_api_port_is_the_one_daphne_listens_on(services):
    command = _dockerfile_cmd()
    port = command[command.index("-p") + 1]
    assert any(re.fullmatch(rf"(?:[\d.]+:)?\d+:{port}", published) for published in services["web"]["ports"])
