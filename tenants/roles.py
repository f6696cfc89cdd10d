"""Permission names and the built-in roles: a leaf module (no imports), so anything may use it."""

from __future__ import annotations

BUILD_CREATE = "build:create"
BUILD_LIST = "build:list"
BUILD_READ = "build:read"
BUILD_DELETE = "build:delete"
BUILD_CANCEL = "build:cancel"
PROJECT_CREATE = "project:create"
PROJECT_LIST = "project:list"
PROJECT_READ = "project:read"
PROJECT_UPDATE = "project:update"
PROJECT_DELETE = "project:delete"
MEMBER_LIST = "member:list"
MEMBER_MANAGE = "member:manage"
# Build triggers of a project (push hooks) and the tenant's outgoing webhooks: both hold secrets and
# make builds or requests happen without a person, so only owners hold them by default.
PROJECT_MANAGE = "project:manage"
WEBHOOK_MANAGE = "webhook:manage"

ALL_PERMISSIONS = (
    BUILD_CREATE, BUILD_LIST, BUILD_READ, BUILD_DELETE, BUILD_CANCEL,
    PROJECT_CREATE, PROJECT_LIST, PROJECT_READ, PROJECT_UPDATE, PROJECT_DELETE,
    MEMBER_LIST, MEMBER_MANAGE, PROJECT_MANAGE, WEBHOOK_MANAGE,
)  # fmt: skip

OWNER_ROLE = "owner"
# What a system administrator acting in a tenant they are no member of is called.
SYSTEM_ADMIN_ROLE = "system_admin"

BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    OWNER_ROLE: ALL_PERMISSIONS,
    "developer": (
        BUILD_CREATE,
        BUILD_LIST,
        BUILD_READ,
        BUILD_CANCEL,
        PROJECT_CREATE,
        PROJECT_LIST,
        PROJECT_READ,
        PROJECT_UPDATE,
        MEMBER_LIST,
    ),  # fmt: skip
    "viewer": (BUILD_LIST, BUILD_READ, PROJECT_LIST, PROJECT_READ, MEMBER_LIST),
}
