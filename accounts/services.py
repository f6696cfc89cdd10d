"""Account writes: issuing, rotating and revoking tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, TokenError

from accounts.models import User
from imagefactory.core.errors import RateLimited, Unauthorized
from imagefactory.core.ratelimit import hit


def _token_pair(user: User) -> dict:
    refresh = RefreshToken.for_user(user)
    return {
        "access_token": str(refresh.access_token),
        "refresh_token": str(refresh),
        "token_type": "Bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def check_login_rate(*, email: str, address: str) -> None:
    """Counts an attempt per email and per client address; over either limit → 429."""
    for scope in (f"login:email:{email.strip().lower()}", f"login:addr:{address}"):
        window = hit(
            scope,
            limit=settings.LOGIN_RATE_LIMIT,
            window_seconds=settings.LOGIN_RATE_WINDOW_SECONDS,
        )
        if window.exceeded:
            raise RateLimited("Too many login attempts; try again later", retry_after=window.retry_after)


def login(*, email: str, password: str, address: str) -> tuple[User, dict]:
    check_login_rate(email=email, address=address)
    user = authenticate(username=email.strip().lower(), password=password)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid email or password")
    return user, _token_pair(user)


def _revoke(refresh: RefreshToken) -> bool:
    """Blacklists the token; False when it already was (so two racing refreshes have one winner)."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=refresh["jti"],
        defaults={
            "token": str(refresh),
            "expires_at": refresh.current_time + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"],
        },
    )
    try:
        with transaction.atomic():
            _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    except IntegrityError:
        return False
    return created


def _parse_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise Unauthorized("Refresh token is invalid, expired or revoked") from exc


def refresh_tokens(*, raw_refresh: str) -> tuple[User, dict]:
    refresh = _parse_refresh(raw_refresh)
    user = User.objects.filter(pk=refresh.get("user_id"), is_active=True).first()
    if user is None or not _revoke(refresh):
        raise Unauthorized("Refresh token is invalid, expired or revoked")
    return user, _token_pair(user)


def logout(*, raw_refresh: str) -> None:
    _revoke(_parse_refresh(raw_refresh))


def stream_access_token(user: User) -> str:
    """A plain access token (no refresh token) for a signed-in browser's log WebSocket."""
    return str(AccessToken.for_user(user))
