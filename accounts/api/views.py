"""/auth/login, /auth/refresh, /auth/logout, /auth/logout-all (exempt from the X-Tenant-ID rule).

/auth/me is in tenants."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import examples
from accounts.api.serializers import (
    LoginSerializer,
    RefreshTokenSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from imagefactory.core.ratelimit import client_address
from imagefactory.core.schema import ERROR_RESPONSES


def _pair_response(user, tokens) -> Response:
    return Response({**tokens, "user": UserSerializer(user).data})


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenPairSerializer, **ERROR_RESPONSES},
        auth=[],
        tags=["Auth"],
        operation_id="login",
        summary="Log in: an access and a refresh token",
        examples=examples.LOGIN,
    )
    def post(self, request):
        data = LoginSerializer.validated(request.data)
        user, tokens = services.login(email=data["email"], password=data["password"], address=client_address(request))
        return _pair_response(user, tokens)


class RefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=RefreshTokenSerializer,
        responses={200: TokenPairSerializer, **ERROR_RESPONSES},
        auth=[],
        tags=["Auth"],
        operation_id="refreshToken",
        summary="Trade a refresh token for new tokens (the old one stops working)",
        examples=examples.REFRESH,
    )
    def post(self, request):
        data = RefreshTokenSerializer.validated(request.data)
        user, tokens = services.refresh_tokens(raw_refresh=data["refresh_token"])
        return _pair_response(user, tokens)


class LogoutView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=RefreshTokenSerializer,
        responses={204: None, **ERROR_RESPONSES},
        auth=[],
        tags=["Auth"],
        operation_id="logout",
        summary="Log out: revoke a refresh token",
        examples=examples.LOGOUT,
    )
    def post(self, request):
        data = RefreshTokenSerializer.validated(request.data)
        services.logout(raw_refresh=data["refresh_token"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """Signs the caller out everywhere: every access and refresh token issued so far, every
    browser session and every open log stream of theirs ends (accounts.services.sign_out_everywhere)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={204: None, **ERROR_RESPONSES},
        tags=["Auth"],
        operation_id="logoutAll",
        summary="Sign out everywhere: every token, session and log stream of the caller ends",
    )
    def post(self, request):
        services.sign_out_everywhere(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
