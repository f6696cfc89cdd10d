"""Access-token authentication, shared by the HTTP API and the WebSocket stream."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.tokens import is_current
from imagefactory.core.context import user_id_var
from imagefactory.core.errors import Unauthorized
from imagefactory.core.tokens import request_access_token, verify_access_token


def user_of(token: AccessToken) -> User:
    """The active user a verified access token names, or Unauthorized (also when it was revoked)."""
    user_model = get_user_model()
    try:
        user = user_model.objects.get(pk=token["user_id"])
    except (KeyError, user_model.DoesNotExist) as exc:
        raise Unauthorized("User not found or inactive") from exc
    if not user.is_active:
        raise Unauthorized("User not found or inactive")
    if not is_current(token, user):
        raise Unauthorized("Token was revoked; log in again", details={"reason": "token_revoked"})
    user_id_var.set(str(user.pk))  # every log line of the request names its user
    return user


def authenticate_access_token(raw_token: str | None) -> User:
    """The active user of a raw access token (the WebSocket stream's credentials), or Unauthorized."""
    if not raw_token:
        raise Unauthorized("Authentication credentials were not provided")
    return user_of(verify_access_token(raw_token))


class AccessTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>``; the token is verified once per request (core.tokens)."""

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[User, AccessToken] | None:
        token = request_access_token(request._request)
        if token is None:
            return None
        return user_of(token), token

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
