"""Request and response shapes of /auth/*."""

from rest_framework import serializers

from accounts.models import User
from imagefactory.core.serializers import StrictCharField, StrictSerializer


class LoginSerializer(StrictSerializer):
    email = StrictCharField(max_length=254)
    password = StrictCharField(max_length=1024, trim_whitespace=False)


class RefreshTokenSerializer(StrictSerializer):
    refresh_token = StrictCharField(max_length=4096)


class UserSerializer(serializers.ModelSerializer):
    is_system_admin = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "name", "is_system_admin"]


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    user = UserSerializer()
