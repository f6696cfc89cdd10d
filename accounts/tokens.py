"""The JWTs this service issues: simplejwt's tokens plus the user's token generation.

Every token carries the generation its user had when it was issued (the ``gen`` claim). Changing
the password, deactivating the user or signing out everywhere raises the generation
(User.revoke_tokens), and a token whose generation is not the user's current one is refused:
revocation of every access and refresh token at once, checked against the user row that
authentication reads anyway, so it costs no extra query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework_simplejwt.tokens import RefreshToken, Token

if TYPE_CHECKING:
    from accounts.models import User

GENERATION_CLAIM = "gen"


class UserRefreshToken(RefreshToken):
    """A refresh token (and, through ``.access_token``, its access token) bound to a generation."""

    @classmethod
    def for_user(cls, user: User) -> UserRefreshToken:  # type: ignore[override]
        token = super().for_user(user)
        token[GENERATION_CLAIM] = user.token_generation
        return token


def is_current(token: Token, user: User) -> bool:
    """True when the token was issued at the user's current generation (and so is not revoked)."""
    return token.get(GENERATION_CLAIM) == user.token_generation


def access_token_for(user: User) -> str:
    return str(UserRefreshToken.for_user(user).access_token)
