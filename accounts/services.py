"""Account writes: issuing, rotating and revoking tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, TokenError

from accounts.models import User
from accounts.tokens import UserRefreshToken, is_current
from imagefactory.core.errors import RateLimited, Unauthorized
from imagefactory.core.ratelimit import WindowCount, hit, peek, reset


def _token_pair(user: User) -> dict:
    refresh = UserRefreshToken.for_user(user)
    return {
        "access_token": str(refresh.access_token),
        "refresh_token": str(refresh),
        "token_type": "Bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def _login_scopes(*, email: str, address: str) -> list[tuple[str, int]]:
    """Failed logins count per (email, client address) and per client address.

    Never per email alone: then anyone could lock a user out by failing against their email, and
    behind a proxy whose address is not trusted everyone would share one address's count.
    """
    return [
        (f"login:pair:{email.strip().lower()}:{address}", settings.LOGIN_RATE_LIMIT),
        (f"login:addr:{address}", settings.LOGIN_ADDRESS_RATE_LIMIT),
    ]


def _refuse_when_locked(windows: list[WindowCount]) -> None:
    locked = [window for window in windows if window.count >= window.limit]
    if locked:
        raise RateLimited(
            "Too many failed logins; try again after the time in Retry-After",
            retry_after=max(window.retry_after for window in locked),
        )


def login(*, email: str, password: str, address: str) -> tuple[User, dict]:
    window_seconds = settings.LOGIN_RATE_WINDOW_SECONDS
    scopes = _login_scopes(email=email, address=address)
    _refuse_when_locked([peek(scope, limit=limit, window_seconds=window_seconds) for scope, limit in scopes])
    user = authenticate(username=email.strip().lower(), password=password)
    if user is None or not user.is_active:
        for scope, limit in scopes:
            hit(scope, limit=limit, window_seconds=window_seconds)
        raise Unauthorized("Invalid email or password")
    reset(scopes[0][0], window_seconds=window_seconds)  # a success forgives this pair's failures
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
    if user is None or not is_current(refresh, user) or not _revoke(refresh):
        raise Unauthorized("Refresh token is invalid, expired or revoked")
    return user, _token_pair(user)


def logout(*, raw_refresh: str) -> None:
    _revoke(_parse_refresh(raw_refresh))


def sign_out_everywhere(user: User) -> None:
    """Revokes every access and refresh token and every session of the user, at their next use;
    open log streams are told at once (User.revoke_tokens)."""
    user.revoke_tokens()
