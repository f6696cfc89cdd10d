"""Examples of /auth/login, /auth/refresh and /auth/logout, as in the guide's curl flows."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

# Shortened, but shaped like the real thing: three base64url parts.
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjo3LCJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2lnbmF0dXJl"
REFRESH_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjo3LCJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"
USER = {"id": 7, "email": "user@imagefactory.local", "name": "Dana Developer", "is_system_admin": False}
TOKEN_PAIR = {
    "access_token": ACCESS_TOKEN,
    "refresh_token": REFRESH_TOKEN,
    "token_type": "Bearer",
    "expires_in": 900,
    "user": USER,
}

LOGIN = [
    OpenApiExample(
        "Log in", value={"email": "user@imagefactory.local", "password": "correct horse battery"}, request_only=True
    ),
    OpenApiExample("Tokens", value=TOKEN_PAIR, response_only=True, status_codes=["200"]),
]
REFRESH = [
    OpenApiExample("Refresh", value={"refresh_token": REFRESH_TOKEN}, request_only=True),
    OpenApiExample("New tokens", value=TOKEN_PAIR, response_only=True, status_codes=["200"]),
]
LOGOUT = [OpenApiExample("Log out", value={"refresh_token": REFRESH_TOKEN}, request_only=True)]
