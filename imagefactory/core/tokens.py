"""The request's bearer access token, verified once per request (signature, expiry, token type).

The rate limiter needs the user id before authentication runs, and authentication needs the
same token: both read it here, so a request's JWT is decoded exactly once.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework_simplejwt.tokens import AccessToken, TokenError

from imagefactory.core.errors import Unauthorized

_CACHE_ATTRIBUTE = "_imagefactory_access_token"


def bearer_token(authorization_header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    parts = authorization_header.split()
    if len(parts) == 2 and parts[0] == "Bearer":
        return parts[1]
    return None


def verify_access_token(raw_token: str) -> AccessToken:
    """A valid access token (not a refresh token), or Unauthorized."""
    try:
        return AccessToken(raw_token)
    except TokenError as exc:
        raise Unauthorized("Token is invalid or expired") from exc


def request_access_token(request: HttpRequest) -> AccessToken | None:
    """The verified token of the request's Authorization header; None when there is none.

    Raises Unauthorized for a token that does not verify. The outcome is kept on the request.
    """
    cached = request.__dict__.get(_CACHE_ATTRIBUTE)
    if cached is None:
        raw = bearer_token(request.headers.get("Authorization", ""))
        try:
            cached = (verify_access_token(raw), None) if raw else (None, None)
        except Unauthorized as refusal:
            cached = (None, refusal)
        setattr(request, _CACHE_ATTRIBUTE, cached)
    token, refusal = cached
    if refusal is not None:
        raise refusal
    return token


def request_user_id(request: HttpRequest) -> int | None:
    """The user id claimed by a valid token, without touching the database (rate limiting)."""
    try:
        token = request_access_token(request)
    except Unauthorized:
        return None
    return token.get("user_id") if token is not None else None
