"""Shapes of /projects and /builds: validate input, render output, nothing more."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.validators import MaxValueValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from builds import validators
from builds.logs.messages import line_metadata
from builds.models import Build, BuildStatus, LogLevel, Project
from imagefactory.core.serializers import (
    StrictCharField,
    StrictModelSerializer,
    StrictSerializer,
    StrictUUIDField,
)
from imagefactory.core.timestamps import iso_z

MAX_BUILD_ARGS = 64
MAX_SECRETS = 32


def _check(error: str | None) -> None:
    if error:
        raise serializers.ValidationError(error)


class BuildSecretsField(serializers.DictField):
    """Build secrets: {NAME: value}; a Dockerfile reads them with RUN --mount=type=secret,id=NAME."""

    child = StrictCharField(allow_blank=False, max_length=65536)
    key_pattern = validators.SECRET_NAME
    max_keys = MAX_SECRETS

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be an object of secret names to string values.")
        if len(data) > MAX_SECRETS:
            raise serializers.ValidationError(f"At most {MAX_SECRETS} secrets are allowed.")
        for name, value in data.items():
            _check(validators.secret_name_error(name) and f"'{name}': {validators.secret_name_error(name)}")
            if not isinstance(value, str) or not value:
                raise serializers.ValidationError(f"'{name}': value must be a non-empty string.")
        return super().to_internal_value(data)


def _repository_url_pattern() -> str:
    return validators.repository_url_pattern(file_roots=settings.FILE_REPOSITORY_ROOTS)


def _repository_url_error(value: str) -> str | None:
    return validators.repository_url_error(value, file_roots=settings.FILE_REPOSITORY_ROOTS)


class ProjectSerializer(StrictModelSerializer):
    name = StrictCharField(max_length=100, pattern=validators.DISPLAY_NAME, rule=validators.display_name_error)
    repository_url = StrictCharField(max_length=500, pattern=_repository_url_pattern, rule=_repository_url_error)
    default_branch = StrictCharField(
        max_length=validators.BRANCH_MAX_LENGTH,
        required=False,
        default="main",
        pattern=validators.BRANCH_NAME,
        rule=validators.branch_name_error,
    )
    dockerfile_path = StrictCharField(
        max_length=500,
        required=False,
        default="Dockerfile",
        pattern=validators.RELATIVE_PATH,
        rule=validators.relative_path_error,
    )
    build_context = StrictCharField(
        max_length=500,
        required=False,
        default=".",
        pattern=validators.RELATIVE_PATH,
        rule=validators.relative_path_error,
    )
    image_repository = StrictCharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        # Empty: build without pushing.
        pattern=f"^$|{validators.IMAGE_REPOSITORY}",
        rule=lambda value: validators.image_repository_error(value) if value else None,
    )
    registry_username = StrictCharField(max_length=255, required=False, allow_blank=True, write_only=True)
    registry_password = StrictCharField(max_length=4096, required=False, allow_blank=True, write_only=True)
    git_username = StrictCharField(max_length=255, required=False, allow_blank=True, write_only=True)
    git_password = StrictCharField(max_length=4096, required=False, allow_blank=True, write_only=True)
    git_ssh_private_key = StrictCharField(max_length=16384, required=False, allow_blank=True, write_only=True)
    secrets = BuildSecretsField(required=False, write_only=True)
    build_timeout_seconds = serializers.IntegerField(
        required=False,
        min_value=30,
        default=settings.DEFAULT_BUILD_TIMEOUT_SECONDS,
        # A callable limit: read when validating (and when the schema is generated), not at import.
        validators=[MaxValueValidator(lambda: settings.MAX_BUILD_TIMEOUT_SECONDS)],
    )
    has_registry_credentials = serializers.SerializerMethodField()
    has_git_credentials = serializers.SerializerMethodField()
    secret_names = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "repository_url",
            "default_branch",
            "dockerfile_path",
            "build_context",
            "image_repository",
            "registry_username",
            "registry_password",
            "git_username",
            "git_password",
            "git_ssh_private_key",
            "secrets",
            "has_registry_credentials",
            "has_git_credentials",
            "secret_names",
            "build_timeout_seconds",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_has_registry_credentials(self, project: Project) -> bool:
        return bool(project.registry_username and project.registry_password)

    def get_has_git_credentials(self, project: Project) -> bool:
        return bool(project.git_password or project.git_ssh_private_key)

    def get_secret_names(self, project: Project) -> list[str]:
        return sorted(project.secrets)

    def validate_name(self, value: str) -> str:
        return value.strip()  # stored without the surrounding whitespace; DISPLAY_NAME saw the rest


class ProjectUpdateSerializer(ProjectSerializer):
    """PATCH: every field optional, no defaults applied."""

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
            if hasattr(field, "default"):
                field.default = serializers.empty
        return fields


class BuildArgsField(serializers.DictField):
    child = StrictCharField(allow_blank=True, max_length=4096)
    key_pattern = validators.ENV_NAME
    max_keys = MAX_BUILD_ARGS

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be an object of string keys to string values.")
        if len(data) > MAX_BUILD_ARGS:
            raise serializers.ValidationError(f"At most {MAX_BUILD_ARGS} build args are allowed.")
        for key, value in data.items():
            _check(validators.env_name_error(key) and f"'{key}': {validators.env_name_error(key)}")
            if not isinstance(value, str):
                raise serializers.ValidationError(f"'{key}': value must be a string.")
        return super().to_internal_value(data)


class BuildCreateSerializer(StrictSerializer):
    project_id = StrictUUIDField()
    git_branch = StrictCharField(
        max_length=validators.BRANCH_MAX_LENGTH, pattern=validators.BRANCH_NAME, rule=validators.branch_name_error
    )
    git_commit = StrictCharField(
        required=False,
        allow_null=True,
        min_length=7,
        max_length=64,
        pattern=validators.COMMIT,
        rule=validators.commit_error,
    )
    build_args = BuildArgsField(required=False, allow_null=True)

    def validate_git_commit(self, value: str | None) -> str | None:
        return value.lower() if value is not None else value


class BuildCancelSerializer(StrictSerializer):
    reason = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=1000)


class BuildTriggerSerializer(serializers.Serializer):
    """What made a build that a push hook made: the trigger (null once deleted), the delivery, the pusher."""

    trigger_id = serializers.UUIDField(allow_null=True)
    delivery_id = serializers.CharField()
    triggered_by = serializers.CharField(allow_null=True)


class BuildSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(read_only=True)
    retry_of = serializers.UUIDField(source="retry_of_id", read_only=True, allow_null=True)
    trigger = serializers.SerializerMethodField()
    build_args = serializers.DictField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=BuildStatus.choices)

    class Meta:
        model = Build
        fields = [
            "id",
            "project_id",
            "build_number",
            "git_branch",
            "git_commit",
            "source_commit",
            "build_args",
            "status",
            "error_message",
            "failure_kind",
            "cancel_reason",
            "retry_of",
            "trigger",
            "current_step",
            "total_steps",
            "step_name",
            "image_reference",
            "image_digest",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(BuildTriggerSerializer(allow_null=True))
    def get_trigger(self, build: Build) -> dict | None:
        """Null for builds made through the API; no query: the ids are on the build row."""
        if not build.trigger_delivery_id:
            return None
        return {
            "trigger_id": str(build.trigger_id) if build.trigger_id else None,
            "delivery_id": build.trigger_delivery_id,
            "triggered_by": build.triggered_by,
        }

    def to_representation(self, build: Build) -> dict:
        """The fields above, written out: DRF's generic walk over 22 field objects per build was a
        third of GET /builds. builds/tests/test_api_serializers.py holds this to DRF's own output."""
        return {
            "id": str(build.pk),
            "project_id": str(build.project_id),
            "build_number": build.build_number,
            "git_branch": _text(build.git_branch),
            "git_commit": _text(build.git_commit),
            "source_commit": _text(build.source_commit),
            "build_args": {str(key): _text(value) for key, value in (build.build_args or {}).items()},
            "status": str(build.status),
            "error_message": _text(build.error_message),
            "failure_kind": _text(build.failure_kind),
            "cancel_reason": _text(build.cancel_reason),
            "retry_of": _text(build.retry_of_id),
            "trigger": self.get_trigger(build),
            "current_step": build.current_step,
            "total_steps": build.total_steps,
            "step_name": _text(build.step_name),
            "image_reference": _text(build.image_reference),
            "image_digest": _text(build.image_digest),
            "started_at": _moment(build.started_at),
            "completed_at": _moment(build.completed_at),
            "created_at": _moment(build.created_at),
            "updated_at": _moment(build.updated_at),
        }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _moment(value: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it with TIME_ZONE = "UTC": ISO 8601 in UTC, `Z` for +00:00."""
    return None if value is None else iso_z(value.astimezone(UTC))


class ProgressSerializer(serializers.Serializer):
    current_step = serializers.IntegerField(min_value=0)
    total_steps = serializers.IntegerField(min_value=0)
    percentage = serializers.IntegerField(min_value=0, max_value=100)


class BuildStatusSerializer(serializers.Serializer):
    build_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=BuildStatus.choices)
    progress = ProgressSerializer(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    estimated_completion = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class LogEntrySerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    level = serializers.ChoiceField(choices=LogLevel.choices)
    message = serializers.CharField()
    metadata = serializers.SerializerMethodField()

    def get_metadata(self, line) -> dict[str, str]:
        return line_metadata(line)


class BuildLogsSerializer(serializers.Serializer):
    build_id = serializers.UUIDField()
    logs = LogEntrySerializer(many=True)
    total_lines = serializers.IntegerField(min_value=0)
    offset = serializers.IntegerField(min_value=0)
    limit = serializers.IntegerField(min_value=1)
