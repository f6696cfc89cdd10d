"""Projects in the admin: credentials and build secrets are write-only (set, replace or clear, never shown).

Saves go through builds.services.projects, so the admin obeys the API's rules: the same field
validators, and credentials that stay bound to the host they were given for.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError

from builds import validators
from builds.models import Project
from builds.services import projects as project_services

# name -> widget of its "set/replace" field; PasswordInput never renders a value back.
CREDENTIALS = {
    "registry_username": forms.TextInput,
    "registry_password": forms.PasswordInput,
    "git_username": forms.TextInput,
    "git_password": forms.PasswordInput,
    "git_ssh_private_key": forms.Textarea,
}
MAX_SECRETS = 32
# What the form edits as is (the tenant is chosen once, when the project is added).
PLAIN_FIELDS = (
    "name",
    "repository_url",
    "default_branch",
    "dockerfile_path",
    "build_context",
    "image_repository",
    "build_timeout_seconds",
)


def set_field(name: str) -> str:
    return f"set_{name}"


def clear_field(name: str) -> str:
    return f"clear_{name}"


def parse_secrets(text: str) -> dict[str, str]:
    """`NAME=value` lines (blank lines ignored) -> {NAME: value}, validated like the API's `secrets`."""
    secrets: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not value:
            raise ValidationError(f"Line {number}: expected NAME=value.")
        error = validators.secret_name_error(name)
        if error:
            raise ValidationError(f"Line {number}: '{name}': {error}")
        secrets[name] = value
    if len(secrets) > MAX_SECRETS:
        raise ValidationError(f"At most {MAX_SECRETS} secrets are allowed.")
    return secrets


def _write_only_fields() -> dict[str, forms.Field]:
    """A "set/replace" field (never filled in) and a "clear" box per credential, and the same for secrets."""
    fields: dict[str, forms.Field] = {}
    for name, widget in CREDENTIALS.items():
        label = name.replace("_", " ")
        attrs = {"autocomplete": "new-password" if widget is forms.PasswordInput else "off"}
        if widget is forms.Textarea:
            attrs["rows"] = "3"
        fields[set_field(name)] = forms.CharField(
            required=False, strip=widget is forms.TextInput, widget=widget(attrs=attrs), label=f"Set/replace {label}"
        )
        fields[clear_field(name)] = forms.BooleanField(required=False, label=f"Clear {label}")
    fields["set_secrets"] = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        label="Set/replace build secrets",
        help_text="One NAME=value per line; replaces all stored secrets. Leave empty to keep them.",
    )
    fields["clear_secrets"] = forms.BooleanField(required=False, label="Clear build secrets")
    return fields


class _ProjectAdminFormBase(forms.ModelForm):
    """The model's plain fields; the write-only ones only through the fields of _write_only_fields()."""

    class Meta:
        model = Project
        fields = ["tenant", *PLAIN_FIELDS]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Whether a value is stored, never the value itself.
        stored = None if self.instance._state.adding else self.instance
        for name in CREDENTIALS:
            state = "set" if stored is not None and getattr(stored, name) else "not set"
            self.fields[set_field(name)].help_text = f"Currently {state}. Leave empty to keep it."
        if stored is not None:
            names = ", ".join(sorted(stored.secrets)) or "none"
            self.fields["set_secrets"].help_text += f" Stored: {names}."

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Must not be blank.")
        return name

    def clean_repository_url(self) -> str:
        return self._checked(
            "repository_url", validators.repository_url_error, file_roots=settings.FILE_REPOSITORY_ROOTS
        )

    def clean_default_branch(self) -> str:
        return self._checked("default_branch", validators.branch_name_error)

    def clean_dockerfile_path(self) -> str:
        return self._checked("dockerfile_path", validators.relative_path_error)

    def clean_build_context(self) -> str:
        return self._checked("build_context", validators.relative_path_error)

    def clean_image_repository(self) -> str:
        value = self.cleaned_data["image_repository"]
        return self._checked("image_repository", validators.image_repository_error) if value else value

    def clean_build_timeout_seconds(self) -> int:
        value = self.cleaned_data["build_timeout_seconds"]
        if not 30 <= value <= settings.MAX_BUILD_TIMEOUT_SECONDS:
            raise ValidationError(f"Must be between 30 and {settings.MAX_BUILD_TIMEOUT_SECONDS}.")
        return value

    def clean_set_secrets(self) -> dict[str, str]:
        return parse_secrets(self.cleaned_data["set_secrets"])

    def _checked(self, name: str, rule, **kwargs) -> str:
        value = self.cleaned_data[name]
        error = rule(value, **kwargs)
        if error:
            raise ValidationError(error)
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        name = cleaned.get("name")
        if tenant is not None and name:
            # The form leaves out the (read-only) tenant when editing, so Django would skip this constraint.
            taken = Project.objects.for_tenant(tenant).filter(name=name).exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("name", f"'{name}' is already used in this tenant.")
        for name in [*CREDENTIALS, "secrets"]:
            if cleaned.get(set_field(name)) and cleaned.get(clear_field(name)):
                self.add_error(clear_field(name), "Either set a new value or clear it, not both.")
        return cleaned

    def write_only_changes(self) -> dict[str, object]:
        """The write-only fields this submission sets or clears; absent ones keep their stored value."""
        changes: dict[str, object] = {}
        for name in [*CREDENTIALS, "secrets"]:
            if self.cleaned_data.get(clear_field(name)):
                changes[name] = {} if name == "secrets" else ""
            elif self.cleaned_data.get(set_field(name)):
                changes[name] = self.cleaned_data[set_field(name)]
        return changes


# Declared fields must exist when the class is made (the admin checks its fieldsets against them).
ProjectAdminForm = type("ProjectAdminForm", (_ProjectAdminFormBase,), {"__module__": __name__, **_write_only_fields()})


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = (
        "name",
        "tenant",
        "repository_url",
        "image_repository",
        "has_git_credentials",
        "has_registry_credentials",
        "build_counter",
        "created_at",
    )
    list_filter = ("tenant",)
    list_select_related = ("tenant",)
    search_fields = ("name", "repository_url", "image_repository", "=id")
    ordering = ("-created_at",)
    readonly_fields = ("build_counter", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("tenant", "name", "build_counter", "created_at", "updated_at")}),
        ("Source", {"fields": ("repository_url", "default_branch", "dockerfile_path", "build_context")}),
        ("Image", {"fields": ("image_repository", "build_timeout_seconds")}),
        (
            "Git credentials (write-only)",
            {
                "fields": [
                    (set_field(name), clear_field(name))
                    for name in ("git_username", "git_password", "git_ssh_private_key")
                ]
            },
        ),
        (
            "Registry credentials (write-only)",
            {"fields": [(set_field(name), clear_field(name)) for name in ("registry_username", "registry_password")]},
        ),
        ("Build secrets (write-only)", {"fields": [("set_secrets", "clear_secrets")]}),
    )

    def get_readonly_fields(self, request, obj=None):
        # A project never moves to another tenant: its builds and layer cache belong to this one.
        return (*self.readonly_fields, "tenant") if obj is not None else self.readonly_fields

    @admin.display(boolean=True, description="git credentials")
    def has_git_credentials(self, project: Project) -> bool:
        return bool(project.git_password or project.git_ssh_private_key)

    @admin.display(boolean=True, description="registry credentials")
    def has_registry_credentials(self, project: Project) -> bool:
        return bool(project.registry_username and project.registry_password)

    def save_model(self, request, obj: Project, form: _ProjectAdminFormBase, change: bool) -> None:
        write_only = form.write_only_changes()
        if change:
            plain = {name: form.cleaned_data[name] for name in form.changed_data if name in PLAIN_FIELDS}
            project_services.update_project(project=obj, **plain, **write_only)
        else:
            plain = {name: form.cleaned_data[name] for name in PLAIN_FIELDS}
            # The form's instance already has its id; the admin's change log and redirect use it.
            project_services.create_project(tenant=obj.tenant, id=obj.pk, **plain, **write_only)
