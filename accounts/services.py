"""Account writes: issuing, rotating and revoking tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, TokenError

from accounts.models import User
from accounts.tokens import UserRefreshToken, access_token_for, is_current
from imagefactory.core.errors import RateLimited, Unauthorized
from imagefactory.core.ratelimit import hit, peek, reset


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


def check_login_allowed(*, email: str, address: str) -> None:
    """429 while the (email, address) pair or the address has used up its failed logins."""
    locked = [
        window
        for scope, limit in _login_scopes(email=email, address=address)
        if (window := peek(scope, limit=limit, window_seconds=settings.LOGIN_RATE_WINDOW_SECONDS)).count >= limit
    ]
    if locked:
        raise RateLimited(
            "Too many failed logins; try again after the time in Retry-After",
            retry_after=max(window.retry_after for window in locked),
        )


def record_login_outcome(*, email: str, address: str, succeeded: bool) -> None:
    """A failure counts against the pair and the address; a success forgives the pair's failures."""
    window_seconds = settings.LOGIN_RATE_WINDOW_SECONDS
    scopes = _login_scopes(email=email, address=address)
    if succeeded:
        reset(scopes[0][0], window_seconds=window_seconds)
        return
    for scope, limit in scopes:
        hit(scope, limit=limit, window_seconds=window_seconds)


def login(*, email: str, password: str, address: str) -> tuple[User, dict]:
    check_login_allowed(email=email, address=address)
    user = authenticate(username=email.strip().lower(), password=password)
    succeeded = user is not None and user.is_active
    record_login_outcome(email=email, address=address, succeeded=succeeded)
    if not succeeded:
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
    if user is None or not is_current(refresh, user) or not _revoke(refresh):
        raise Unauthorized("Refresh token is invalid, expired or revoked")
    return user, _token_pair(user)


def logout(*, raw_refresh: str) -> None:
    _revoke(_parse_refresh(raw_refresh))


def sign_out_everywhere(user: User) -> None:
    """Revokes every access and refresh token and every session of the user, at their next use;
    open log streams are told at once (User.revoke_tokens)."""
    user.revoke_tokens()


def stream_access_token(user: User) -> str:
    """A plain access token (no refresh token) for a signed-in browser's log WebSocket."""
    return access_token_for(user)
