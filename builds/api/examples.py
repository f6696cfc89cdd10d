"""Examples of the builds API's requests and responses, as in the guide's curl flows (shown in the docs UI)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

PROJECT_ID = "550e8400-e29b-41d4-a716-446655440000"
BUILD_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
RETRY_ID = "9b2f4e1a-6c3d-4f8e-b5a7-1d0c2e3f4a5b"
COMMIT = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
CREATED = "2026-01-15T10:30:00Z"
STARTED = "2026-01-15T10:30:05Z"
ENDED = "2026-01-15T10:32:41Z"

PROJECT = {
    "id": PROJECT_ID,
    "name": "payments-api",
    "repository_url": "https://git.example.com/platform/payments-api.git",
    "default_branch": "main",
    "dockerfile_path": "Dockerfile",
    "build_context": ".",
    "image_repository": "registry.example.com/platform/payments-api",
    "has_registry_credentials": True,
    "has_git_credentials": True,
    "secret_names": ["NPM_TOKEN"],
    "build_timeout_seconds": 1800,
    "created_at": CREATED,
    "updated_at": CREATED,
}
QUEUED_BUILD = {
    "id": BUILD_ID,
    "project_id": PROJECT_ID,
    "build_number": 42,
    "git_branch": "feature/api",
    "git_commit": COMMIT,
    "source_commit": None,
    "build_args": {"NODE_ENV": "production"},
    "status": "queued",
    "error_message": None,
    "failure_kind": None,
    "cancel_reason": None,
    "retry_of": None,
    "trigger": None,
    "current_step": None,
    "total_steps": None,
    "step_name": "",
    "image_reference": None,
    "image_digest": None,
    "started_at": None,
    "completed_at": None,
    "created_at": CREATED,
    "updated_at": CREATED,
}
TRIGGERED_BUILD = {
    **QUEUED_BUILD,
    "trigger": {
        "trigger_id": "5d1c7a3e-2b4f-4e6a-9c8d-0f1e2a3b4c5d",
        "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "triggered_by": "octocat",
    },
}
RUNNING_BUILD = {
    **QUEUED_BUILD,
    "status": "in_progress",
    "source_commit": COMMIT,
    "current_step": 2,
    "total_steps": 5,
    "step_name": "RUN npm ci",
    "started_at": STARTED,
    "updated_at": STARTED,
}
SUCCEEDED_BUILD = {
    **RUNNING_BUILD,
    "status": "success",
    "current_step": 5,
    "step_name": "push",
    "image_reference": "registry.example.com/platform/payments-api:feature-api-42",
    "image_digest": "sha256:" + "3b1f7c2a9e4d8f06" * 4,
    "completed_at": ENDED,
    "updated_at": ENDED,
}
CANCELLED_BUILD = {
    **QUEUED_BUILD,
    "status": "cancelled",
    "cancel_reason": "Superseded by a newer commit",
    "completed_at": STARTED,
    "updated_at": STARTED,
}
FAILED_BUILD = {
    **RUNNING_BUILD,
    "status": "failed",
    "error_message": "RUN npm ci: exit status 1",
    "failure_kind": "build_error",
    "completed_at": ENDED,
    "updated_at": ENDED,
}
RETRY_BUILD = {**QUEUED_BUILD, "id": RETRY_ID, "build_number": 43, "retry_of": BUILD_ID}


def page(key: str, items: list[dict]) -> dict:
    return {key: items, "total_count": len(items), "page": 1, "limit": 20, "has_more": False}


def response(name: str, value, status: int = 200, summary: str | None = None) -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary, response_only=True, status_codes=[str(status)])


def request(name: str, value, summary: str | None = None) -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary, request_only=True)


LIST_PROJECTS = [response("Projects", page("projects", [PROJECT]))]
CREATE_PROJECT = [
    request(
        "A private repository, pushed to a registry",
        {
            "name": "payments-api",
            "repository_url": "https://git.example.com/platform/payments-api.git",
            "default_branch": "main",
            "image_repository": "registry.example.com/platform/payments-api",
            "git_username": "ci-bot",
            "git_password": "glpat-9f8e7d6c5b4a",
            "registry_username": "ci-bot",
            "registry_password": "s3cr3t-registry-token",
            "secrets": {"NPM_TOKEN": "npm_aBcD1234"},
        },
    ),
    response("Created", PROJECT, 201),
]
GET_PROJECT = [response("Project", PROJECT)]
UPDATE_PROJECT = [
    request("Push to another repository", {"image_repository": "registry.example.com/platform/payments"}),
    response("Updated", {**PROJECT, "image_repository": "registry.example.com/platform/payments"}),
]

LIST_BUILDS = [response("Builds", page("builds", [RUNNING_BUILD, SUCCEEDED_BUILD]))]
CREATE_BUILD = [
    request(
        "A branch at a commit, with a build argument",
        {
            "project_id": PROJECT_ID,
            "git_branch": "feature/api",
            "git_commit": COMMIT,
            "build_args": {"NODE_ENV": "production"},
        },
    ),
    request("The head of a branch", {"project_id": PROJECT_ID, "git_branch": "main"}),
    response("Created", QUEUED_BUILD, 201),
]
GET_BUILD = [
    response("Succeeded", SUCCEEDED_BUILD),
    response("Running", RUNNING_BUILD),
    response("Made by a push hook", TRIGGERED_BUILD),
]
START_BUILD = [response("Started", {**QUEUED_BUILD, "status": "in_progress", "started_at": STARTED})]
CANCEL_BUILD = [
    request("With a reason", {"reason": "Superseded by a newer commit"}),
    response("Cancelled", CANCELLED_BUILD),
]
RETRY_BUILD_EXAMPLES = [response("The new attempt", RETRY_BUILD, 201)]
BUILD_STATUS = [
    response(
        "Running",
        {
            "build_id": BUILD_ID,
            "status": "in_progress",
            "progress": {"current_step": 2, "total_steps": 5, "percentage": 40},
            "started_at": STARTED,
            "estimated_completion": "2026-01-15T10:33:00Z",
            "error": None,
        },
    ),
    response(
        "Failed",
        {
            "build_id": BUILD_ID,
            "status": "failed",
            "progress": {"current_step": 2, "total_steps": 5, "percentage": 40},
            "started_at": STARTED,
            "estimated_completion": None,
            "error": "RUN npm ci: exit status 1",
        },
    ),
]
BUILD_LOGS = [
    response(
        "A page of lines",
        {
            "build_id": BUILD_ID,
            "logs": [
                {
                    "timestamp": STARTED,
                    "level": "INFO",
                    "message": "Cloning https://git.example.com/platform/payments-api.git (feature/api)",
                    "metadata": {"step": "clone", "seq": "1"},
                },
                {
                    "timestamp": "2026-01-15T10:30:09Z",
                    "level": "INFO",
                    "message": "STEP 2/5: RUN npm ci",
                    "metadata": {"step": "build", "seq": "2"},
                },
            ],
            "total_lines": 2,
            "offset": 0,
            "limit": 100,
        },
    ),
]
