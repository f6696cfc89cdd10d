"""Examples of /members and /auth/me (shown in the docs UI)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

TENANT_ID = "3f2c9a7e-5b1d-4c8e-9a64-2e7f1b0c8d45"
MEMBER = {
    "id": 12,
    "user_id": 9,
    "email": "sam@example.com",
    "name": "Sam Operator",
    "role": "developer",
    "created_at": "2026-01-15T10:30:00Z",
}


def response(name: str, value, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


ME = [
    response(
        "A developer in one tenant",
        {
            "id": 7,
            "email": "user@imagefactory.local",
            "name": "Dana Developer",
            "is_system_admin": False,
            "memberships": [
                {
                    "tenant_id": TENANT_ID,
                    "tenant_name": "Platform Team",
                    "role": "developer",
                    "permissions": ["build:create", "build:list", "build:read", "build:cancel"],
                }
            ],
        },
    )
]
LIST_MEMBERS = [response("Members", {"members": [MEMBER], "total_count": 1, "page": 1, "limit": 20, "has_more": False})]
ADD_MEMBER = [
    OpenApiExample("Add a developer", value={"email": "sam@example.com", "role": "developer"}, request_only=True),
    response("Added", MEMBER, 201),
]
GET_MEMBER = [response("Member", MEMBER)]
UPDATE_MEMBER = [
    OpenApiExample("Make owner", value={"role": "owner"}, request_only=True),
    response("Updated", {**MEMBER, "role": "owner"}),
]
