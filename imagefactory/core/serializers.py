"""Serializer base shared by every app: unknown fields are an error, not silently dropped.

Fields say exactly what they accept, and imagefactory.core.schema puts the same rules in the
OpenAPI document: a string's `pattern` is the regular expression its value is checked against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db import models
from rest_framework import serializers

# What DRF's CharField always refuses (its ProhibitNullCharactersValidator), as a pattern.
NO_NUL = r"^[^\x00]*$"
CANONICAL_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

Pattern = str | Callable[[], str]  # a callable: a rule that depends on settings, read when used


class StrictCharField(serializers.CharField):
    """A JSON string only, taken as sent, matching `pattern` (the field's schema says the same).

    DRF's CharField would turn 123 or 1.5 into "123" and "1.5", and trim whitespace before
    checking lengths, which no JSON Schema can say. `rule` gives the reason a value is refused
    (it must refuse exactly what `pattern` refuses); without one the message is generic.
    """

    def __init__(self, *, pattern: Pattern = NO_NUL, rule: Callable[[str], str | None] | None = None, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self._pattern = pattern
        self.rule = rule

    @property
    def pattern(self) -> str:
        return self._pattern() if callable(self._pattern) else self._pattern

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        error = self.rule(value) if self.rule else None
        if error is None and re.fullmatch(self.pattern, value) is None:
            error = "Invalid value."
        if error:
            raise serializers.ValidationError(error)
        return value


class StrictUUIDField(serializers.UUIDField):
    """A UUID as a JSON string in its canonical hyphenated form (DRF also takes ints, hex and URNs)."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or re.fullmatch(CANONICAL_UUID, data) is None:
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


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
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }
