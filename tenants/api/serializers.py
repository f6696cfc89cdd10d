"""Shapes of /members and /auth/me."""

from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from imagefactory.core.serializers import StrictCharField, StrictSerializer
from tenants.models import Membership


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)
    role = serializers.CharField(source="role.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user_id", "email", "name", "role", "created_at"]


class MemberCreateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = StrictCharField(max_length=64)


class MemberUpdateSerializer(StrictSerializer):
    role = StrictCharField(max_length=64)


class MembershipSummarySerializer(serializers.Serializer):
    tenant_id = serializers.UUIDField()
    tenant_name = serializers.CharField()
    role = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())


class MeSerializer(UserSerializer):
    memberships = MembershipSummarySerializer(many=True, read_only=True)

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "memberships"]
