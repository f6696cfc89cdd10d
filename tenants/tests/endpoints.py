"""The tenant-scoped endpoints, found by walking the URL resolver, and bearer tokens that must be refused."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.urls import get_resolver
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from testing import access_token_for

API_PREFIX = "api/v1/"
HANDLER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Endpoint:
    """One method of one tenant-scoped route, e.g. PATCH api/v1/projects/<str:project_id>."""

    route: str
    method: str
    permission: str | None
    view_class: type

    @property
    def id(self) -> str:
        return f"{self.method} /{self.route}"

    @property
    def is_write(self) -> bool:
        return self.method not in {"GET", "HEAD", "OPTIONS"}

    @property
    def url_kwargs(self) -> list[str]:
        return _CONVERTER.findall(self.route)

    def path(self, ids: dict[str, object] | None = None) -> str:
        """The concrete URL; ids missing from `ids` become random UUIDs (objects that do not exist)."""
        ids = ids or {}
        return "/" + _CONVERTER.sub(lambda m: str(ids.get(m[1], uuid.uuid4())), self.route)

    def call(self, client, ids: dict[str, object] | None = None, **extra):
        """Sends the request; writes carry an empty JSON object, as a careless client would."""
        body = "{}" if self.method in {"POST", "PUT", "PATCH"} else ""
        response = client.generic(self.method, self.path(ids), body, content_type="application/json", **extra)
        if self.method != "HEAD":
            return response
        # A HEAD answer has no body to inspect: it must have GET's status; GET's body is checked.
        twin = client.generic("GET", self.path(ids), "", content_type="application/json", **extra)
        assert (response.status_code, response.content) == (twin.status_code, b""), self.id
        return twin


def api_routes():
    """(route, view callback) for every URL pattern under /api/v1/, includes flattened."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.callback

    return [
        (route, callback) for route, callback in walk(get_resolver().url_patterns, "") if route.startswith(API_PREFIX)
    ]


def tenant_scoped_endpoints() -> list[Endpoint]:
    """Every (route, method) whose view declares `required_permissions`: new endpoints join by themselves."""
    endpoints = []
    for route, callback in api_routes():
        view_class = getattr(callback, "view_class", None)
        required = getattr(view_class, "required_permissions", None)
        if required is None:
            continue
        endpoints += [Endpoint(route, method, permission, view_class) for method, permission in required.items()]
        if "GET" in required:  # Django answers HEAD with the GET handler: the same rule must hold
            endpoints.append(Endpoint(route, "HEAD", required["GET"], view_class))
    return endpoints


ENDPOINTS = tenant_scoped_endpoints()


def endpoint_params(endpoints=None):
    return [pytest.param(endpoint, id=endpoint.id) for endpoint in (endpoints or ENDPOINTS)]


def webhook_objects(tenant, user, build) -> dict:
    """A webhook subscription of `tenant` and one delivery of it (about `build`)."""
    from webhooks import services

    subscription = services.create_subscription(
        tenant=tenant, user=user, url="https://ci.example.com/hook", events=["build.*"]
    )
    (delivery,) = services.record_event(build_id=build.pk, event="build.failed")
    return {"webhook_id": subscription.pk, "delivery_id": delivery.pk}


# --- bearer tokens that must all be refused ------------------------------------------------


def _expired(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=30))
    return str(token)


def _bad_signature(user) -> str:
    header, payload, signature = access_token_for(user).split(".")
    return f"{header}.{payload}.{signature[::-1]}"


def _deactivated(user) -> str:
    token = access_token_for(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    return token


def _password_changed(user) -> str:
    token = access_token_for(user)
    user.set_password("a-brand-new-password-3")
    user.save()
    return token


def _signed_out_everywhere(user) -> str:
    from accounts.services import sign_out_everywhere

    token = access_token_for(user)
    sign_out_everywhere(user)
    return token


BAD_CREDENTIALS = {
    "no-token": lambda user: None,
    "garbage": lambda user: "not-a-jwt",
    "bad-signature": _bad_signature,
    "expired": _expired,
    "refresh-as-bearer": lambda user: str(RefreshToken.for_user(user)),
    "deactivated-user": _deactivated,
    "password-changed": _password_changed,
    "signed-out-everywhere": _signed_out_everywhere,
    "no-generation-claim": lambda user: str(AccessToken.for_user(user)),  # not issued by this service
}
