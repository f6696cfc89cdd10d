"""The generated OpenAPI document says exactly what the server does: security, shapes, errors, headers, examples."""

from __future__ import annotations

import functools
import re

import jsonschema_rs
import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from builds import validators
from builds.tests.test_validators import INVALID_BRANCHES, VALID_BRANCHES
from imagefactory.core.schema import BEARER_SCHEME, TENANT_SCHEME

# The push hook: the git host's signature is its authentication (triggers/api/views.py).
UNAUTHENTICATED = {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/hooks/{trigger_id}"}
BEARER_ONLY = {"/api/v1/auth/me", "/api/v1/auth/logout-all"}
ERROR_REF = "#/components/schemas/Error"


@functools.cache
def document() -> dict:
    """Generated once per process: every test reads the same document."""
    return SchemaGenerator().get_schema(request=None, public=True)


def operations():
    for path, methods in document()["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


OPERATIONS = [
    pytest.param(path, method, operation, id=f"{method.upper()} {path}") for path, method, operation in operations()
]


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def validator(schema: dict):
    """A JSON Schema validator for `schema`, with the document's components to resolve $refs against."""
    return jsonschema_rs.validator_for({**schema, "components": document()["components"]}, validate_formats=True)


def request_schema(operation: dict) -> dict | None:
    content = operation.get("requestBody", {}).get("content", {})
    return content["application/json"]["schema"] if content else None


def strings_of(schema: dict, where: str):
    """(where, schema) of every string schema inside `schema`, following $refs."""
    schema = resolve(schema)
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types:
        yield where, schema
    for alternative in schema.get("oneOf", []) + schema.get("anyOf", []):
        yield from strings_of(alternative, where)
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("readOnly"):
            yield from strings_of(prop, f"{where}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from strings_of(schema["additionalProperties"], f"{where}.*")
    if "propertyNames" in schema:
        yield f"{where} (keys)", {"type": "string", **schema["propertyNames"]}
    if "items" in schema:
        yield from strings_of(schema["items"], f"{where}[]")


def test_the_document_is_openapi_3_1_with_both_security_schemes():
    schemes = document()["components"]["securitySchemes"]

    assert document()["openapi"].startswith("3.1")
    assert schemes[BEARER_SCHEME] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes[TENANT_SCHEME]["type"] == "apiKey"
    assert (schemes[TENANT_SCHEME]["in"], schemes[TENANT_SCHEME]["name"]) == ("header", "X-Tenant-ID")


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_security_per_operation(path, method, operation):
    if path in UNAUTHENTICATED:
        expected = []
    elif path in BEARER_ONLY:
        expected = [{BEARER_SCHEME: []}]
    else:
        expected = [{BEARER_SCHEME: [], TENANT_SCHEME: []}]

    assert operation["security"] == expected
    # The tenant is the security scheme's header, never a parameter of its own as well.
    assert "X-Tenant-ID" not in {p["name"] for p in operation.get("parameters", [])}


@pytest.mark.parametrize(("path", "method", "operation"), [p for p in OPERATIONS if request_schema(p.values[2])])
def test_request_bodies_refuse_unknown_fields(path, method, operation):
    assert resolve(request_schema(operation))["additionalProperties"] is False


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_every_request_string_has_a_pattern_enum_or_format(path, method, operation):
    strings = []
    for parameter in operation.get("parameters", []):
        strings += strings_of(parameter["schema"], f"{parameter['in']} {parameter['name']}")
    if request_schema(operation) is not None:
        strings += strings_of(request_schema(operation), "body")

    loose = [where for where, schema in strings if not {"pattern", "enum", "format"} & set(schema)]
    assert not loose


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_errors_use_the_envelope_and_every_response_declares_the_headers(path, method, operation):
    responses = operation["responses"]

    assert {"400", "401", "404", "406", "429", "500", "503"} <= set(responses)
    for status, response in responses.items():
        headers = set(response.get("headers", {}))
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-ID"} <= headers, status
        if status.startswith(("4", "5")):
            assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, status
    assert "Retry-After" in responses["429"]["headers"] and "Retry-After" in responses["503"]["headers"]


def test_operation_ids_are_explicit_and_unique():
    ids = [operation["operationId"] for _, _, operation in operations()]

    assert len(ids) == len(set(ids)) >= 24
    assert all(re.fullmatch(r"[a-z][A-Za-z]+", operation_id) for operation_id in ids), ids


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_every_operation_has_a_summary_and_examples_that_match_their_schemas(path, method, operation):
    assert operation.get("summary")
    checked = 0
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        assert body.get("examples"), "no request example"
        for name, example in body["examples"].items():
            assert validator(body["schema"]).is_valid(example["value"]), f"request example {name!r}"
            checked += 1
    for status, response in operation["responses"].items():
        media = response.get("content", {}).get("application/json")
        if media is None or not status.startswith("2"):
            continue
        assert media.get("examples"), f"no example of the {status} response"
        for name, example in media["examples"].items():
            errors = [str(e) for e in validator(media["schema"]).iter_errors(example["value"])]
            assert not errors, f"{status} example {name!r}: {errors}"
            checked += 1

    assert checked or operation["responses"].keys() & {"204"}


def _field(component: str, name: str) -> dict:
    return resolve({"$ref": f"#/components/schemas/{component}"})["properties"][name]


@pytest.mark.parametrize(
    ("component", "field", "rule"),
    [
        ("BuildCreateRequest", "git_branch", validators.BRANCH_NAME),
        ("BuildCreateRequest", "git_commit", validators.COMMIT),
        ("ProjectRequest", "default_branch", validators.BRANCH_NAME),
        ("ProjectRequest", "dockerfile_path", validators.RELATIVE_PATH),
        ("ProjectRequest", "build_context", validators.RELATIVE_PATH),
        ("ProjectRequest", "name", validators.DISPLAY_NAME),
        (
            "ProjectRequest",
            "repository_url",
            validators.repository_url_pattern(file_roots=settings.FILE_REPOSITORY_ROOTS),
        ),
    ],
)
def test_validated_strings_carry_the_validators_own_rule(component, field, rule):
    assert _field(component, field)["pattern"] == rule


def test_dictionary_keys_carry_their_rules():
    build_args = _field("BuildCreateRequest", "build_args")
    secrets = _field("ProjectRequest", "secrets")

    assert (build_args["propertyNames"]["pattern"], build_args["maxProperties"]) == (validators.ENV_NAME, 64)
    assert (secrets["propertyNames"]["pattern"], secrets["maxProperties"]) == (validators.SECRET_NAME, 32)


RULE_SAMPLES = {
    "branch": (
        validators.BRANCH_NAME,
        lambda v: validators.branch_name_error(v) is None,
        [*VALID_BRANCHES[:-2], *[b for b in INVALID_BRANCHES if len(b) <= 255], "a\u2028..b", "x\u2028/.y"],
    ),
    "relative path": (
        validators.RELATIVE_PATH,
        lambda v: validators.relative_path_error(v) is None,
        ["Dockerfile", ".", "./ci/Dockerfile", "a/../b", "..", "../x", "x/..", "..x/y", "/abs", "a\\b", "a\u2028/../b"],
    ),
    "display name": (
        validators.DISPLAY_NAME,
        lambda v: validators.display_name_error(v) is None,
        ["app", " app ", " ", "\t\n", "\x1c", "\x85", "\ufeff", "\u00a0x", "a\x00", ""],
    ),
    "repository url": (
        validators.repository_url_pattern(file_roots=["/srv/git", "/opt/repos (1)/"]),
        lambda v: validators.repository_url_error(v, file_roots=["/srv/git", "/opt/repos (1)/"]) is None,
        [
            "https://git.example.com/team/app.git",
            "https://git.example.com/",
            "https://user:pw@git.example.com/team/app",
            "ssh://git@git.example.com:2222/team/app.git",
            "ssh://u:p@h/a",
            "git@git.example.com:team/app.git",
            "git@h:/abs",
            "file:///srv/git/app.git",
            "file://localhost/srv/git/team/app.git",
            "file:///srv/git",
            "file:///srv/gitx/app.git",
            "file:///srv/git/../etc/app.git",
            "file:///srv/git/a%2e%2e/b",
            "file:///opt/repos (1)/app.git",
            "file:///opt/repos (1)x/app.git",
            "file:///etc/app.git",
            "http://h/a",
            "https://h/a\u2028b",
            "https://h/a\ufeffb",
        ],
    ),
    "image repository": (
        validators.IMAGE_REPOSITORY,
        lambda v: validators.image_repository_error(v) is None,
        ["registry.example.com/team/app", "localhost:5000/app", "app:latest", "App", "app@sha256:abc", "a__b", "a___b"],
    ),
}


@pytest.mark.parametrize("rule", list(RULE_SAMPLES))
def test_a_rule_means_the_same_to_the_server_and_to_json_schema(rule):
    """Python's `re` (the server) and ECMA-262 (JSON Schema, the clients) agree on every sample."""
    pattern, server_accepts, samples = RULE_SAMPLES[rule]
    schema = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})

    disagreements = [value for value in samples if schema.is_valid(value) != server_accepts(value)]
    assert not disagreements
    assert any(server_accepts(v) for v in samples) and not all(server_accepts(v) for v in samples)
