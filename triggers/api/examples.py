"""Examples of the triggers API and the hook endpoint (shown in the docs UI, checked by the schema tests)."""

from __future__ import annotations

from builds.api.examples import BUILD_ID, COMMIT, CREATED, PROJECT_ID, page, request, response

TRIGGER_ID = "5d1c7a3e-2b4f-4e6a-9c8d-0f1e2a3b4c5d"
DELIVERY_ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
TRIGGER = {
    "id": TRIGGER_ID,
    "project_id": PROJECT_ID,
    "kind": "github",
    "branch_patterns": ["main", "release/*"],
    "build_args": {"NODE_ENV": "production"},
    "cancel_superseded": True,
    "delivery_url": f"https://builds.example.com/api/v1/hooks/{TRIGGER_ID}",
    "created_at": CREATED,
    "updated_at": CREATED,
}
SECRET = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

LIST_TRIGGERS = [response("Triggers", page("triggers", [TRIGGER]))]
CREATE_TRIGGER = [
    request(
        "GitHub pushes to main and release branches",
        {"kind": "github", "branch_patterns": ["main", "release/*"], "build_args": {"NODE_ENV": "production"}},
    ),
    request("GitLab, the project's default branch", {"kind": "gitlab"}),
    response("Created (the secret is shown this once)", {**TRIGGER, "secret": SECRET}, 201),
]
GET_TRIGGER = [response("Trigger", TRIGGER)]
UPDATE_TRIGGER = [
    request("Keep superseded builds", {"cancel_superseded": False}),
    response("Updated", {**TRIGGER, "cancel_superseded": False}),
]
ROTATE_SECRET = [response("A new secret (the old one stops working)", {**TRIGGER, "secret": SECRET})]
LIST_DELIVERIES = [
    response(
        "Recent deliveries",
        page(
            "deliveries",
            [
                {
                    "delivery_id": DELIVERY_ID,
                    "event": "push",
                    "outcome": "built",
                    "status_code": 201,
                    "message": f"Build #42 of main at {COMMIT[:12]} started",
                    "branch": "main",
                    "commit": COMMIT,
                    "pusher": "octocat",
                    "build_id": BUILD_ID,
                    "delivered_at": CREATED,
                },
                {
                    "delivery_id": "d1e0c7a2-0000-4000-8000-000000000001",
                    "event": "push",
                    "outcome": "ignored",
                    "status_code": 202,
                    "message": "Branch 'feature/x' matches none of main, release/*",
                    "branch": "feature/x",
                    "commit": COMMIT,
                    "pusher": "octocat",
                    "build_id": None,
                    "delivered_at": CREATED,
                },
            ],
        ),
    )
]
HOOK = [
    response(
        "A push that builds",
        {
            "delivery_id": DELIVERY_ID,
            "event": "push",
            "outcome": "built",
            "message": f"Build #42 of main at {COMMIT[:12]} started",
            "build_id": BUILD_ID,
            "duplicate": False,
        },
        201,
    ),
    response(
        "A ping",
        {
            "delivery_id": DELIVERY_ID,
            "event": "ping",
            "outcome": "ping",
            "message": "pong",
            "build_id": None,
            "duplicate": False,
        },
    ),
    response(
        "A branch no pattern matches",
        {
            "delivery_id": DELIVERY_ID,
            "event": "push",
            "outcome": "ignored",
            "message": "Branch 'feature/x' matches none of main, release/*",
            "build_id": None,
            "duplicate": False,
        },
        202,
    ),
]
