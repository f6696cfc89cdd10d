"""Examples of the webhooks API's requests and responses (shown in the docs UI)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from builds.api.examples import BUILD_ID, PROJECT_ID

WEBHOOK_ID = "3f1c2b9a-8d7e-4c6b-a5f4-e3d2c1b0a998"
DELIVERY_ID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
WHEN = "2026-01-15T10:30:00Z"
LATER = "2026-01-15T10:32:41Z"

WEBHOOK = {
    "id": WEBHOOK_ID,
    "url": "https://ci.example.com/hooks/imagefactory",
    "events": ["build.succeeded", "build.failed"],
    "project_id": PROJECT_ID,
    "is_active": True,
    "disabled_reason": "",
    "disabled_at": None,
    "failing_since": None,
    "created_at": WHEN,
    "updated_at": WHEN,
}
CREATED_WEBHOOK = {**WEBHOOK, "secret": "whsec_2Yc1kS8wq0VtN9bX4mR7pL3zH6dF5jG1aE0uK2oI8yT"}
DELIVERY = {
    "id": DELIVERY_ID,
    "webhook_id": WEBHOOK_ID,
    "sequence": 7,
    "event": "build.succeeded",
    "build_id": BUILD_ID,
    "status": "delivered",
    "attempt_count": 2,
    "next_attempt_at": LATER,
    "last_status_code": 200,
    "last_error": "",
    "created_at": LATER,
    "completed_at": LATER,
    "attempts": [
        {
            "number": 1,
            "started_at": LATER,
            "duration_ms": 10004,
            "outcome": "network_error",
            "status_code": None,
            "address": "203.0.113.10",
            "error": "TimeoutError: timed out",
            "response_excerpt": "",
        },
        {
            "number": 2,
            "started_at": LATER,
            "duration_ms": 87,
            "outcome": "success",
            "status_code": 200,
            "address": "203.0.113.10",
            "error": "",
            "response_excerpt": '{"ok":true}',
        },
    ],
}


def _page(key: str, item: dict) -> dict:
    return {key: [item], "total_count": 1, "page": 1, "limit": 20, "has_more": False}


LIST_WEBHOOKS = [OpenApiExample("Webhooks", value=_page("webhooks", WEBHOOK), response_only=True)]
CREATE_WEBHOOK = [
    OpenApiExample(
        "Successful builds of one project",
        value={"url": WEBHOOK["url"], "events": WEBHOOK["events"], "project_id": PROJECT_ID},
        request_only=True,
    ),
    OpenApiExample(
        "Created (the secret is shown only now)", value=CREATED_WEBHOOK, response_only=True, status_codes=["201"]
    ),
]
GET_WEBHOOK = [OpenApiExample("Webhook", value=WEBHOOK, response_only=True)]
UPDATE_WEBHOOK = [
    OpenApiExample(
        "Turn on again, every build event", value={"is_active": True, "events": ["build.*"]}, request_only=True
    ),
    OpenApiExample("Updated", value={**WEBHOOK, "events": ["build.*"]}, response_only=True),
]
ROTATE_SECRET = [OpenApiExample("New secret (shown only now)", value=CREATED_WEBHOOK, response_only=True)]
LIST_DELIVERIES = [OpenApiExample("Delivery log", value=_page("deliveries", DELIVERY), response_only=True)]
REDELIVER = [
    OpenApiExample(
        "Queued again",
        value={**DELIVERY, "status": "pending", "completed_at": None},
        response_only=True,
        status_codes=["202"],
    )
]
