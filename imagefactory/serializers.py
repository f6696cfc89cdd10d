"""Serializer base shared by every app: unknown fields are an error, not silently dropped."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictSerializerMixin:
    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return super().to_internal_value(data)

    @classmethod
    def validated(cls, data: Any, **kwargs) -> dict:
        serializer = cls(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class StrictSerializer(StrictSerializerMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    pass
