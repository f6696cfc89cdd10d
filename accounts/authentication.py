"""Access-token authentication, shared by the HTTP API and the WebSocket stream."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from imagefactory.errors import Unauthorized


class AccessTokenAuthentication(JWTAuthentication):
    """simplejwt with our envelope; only access tokens, only active users."""

    www_authenticate_realm = "api"

    def authenticate(self, request: Request):
        try:
            return super().authenticate(request)
        except (InvalidToken, TokenError) as exc:
            raise Unauthorized("Token is invalid or expired") from exc

    def get_user(self, validated_token):
        try:
            user = super().get_user(validated_token)
        except Exception as exc:
            raise Unauthorized("User not found or inactive") from exc
        return user


def authenticate_access_token(raw_token: str | None):
    """Returns the active user of a valid access token, or raises Unauthorized."""
    if not raw_token:
        raise Unauthorized("Authentication credentials were not provided")
    try:
        token = AccessToken(raw_token)
    except TokenError as exc:
        raise Unauthorized("Token is invalid or expired") from exc
    user_model = get_user_model()
    try:
        user = user_model.objects.get(pk=token["user_id"])
    except (KeyError, user_model.DoesNotExist) as exc:
        raise Unauthorized("User not found or inactive") from exc
    if not user.is_active:
        raise Unauthorized("User not found or inactive")
    return user


def bearer_token(authorization_header: str) -> str | None:
    parts = authorization_header.split()
    if len(parts) == 2 and parts[0] == "Bearer":
        return parts[1]
    return None


def user_id_from_bearer(authorization_header: str) -> int | None:
    """Cheap, signature-checked user id for rate limiting; no database access."""
    raw = bearer_token(authorization_header)
    if not raw:
        return None
    try:
        return AccessToken(raw).get("user_id")
    except TokenError:
        return None
