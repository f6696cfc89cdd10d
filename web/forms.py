"""The new-build form: what a person types, turned into the API's create-build input."""

from __future__ import annotations

from django import forms


class BuildForm(forms.Form):
    project = forms.ChoiceField(label="Project")
    git_branch = forms.CharField(label="Branch", max_length=255, initial="main")
    git_commit = forms.CharField(label="Commit (optional)", max_length=64, required=False)
    build_args = forms.CharField(
        label="Build arguments (optional, one KEY=VALUE per line; not secret)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    start = forms.BooleanField(label="Start it now", required=False, initial=True)

    def __init__(self, *args, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [(str(p.pk), p.name) for p in projects]

    def clean_build_args(self) -> dict[str, str]:
        build_args: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["build_args"].splitlines(), start=1):
            if not line.strip():
                continue
            key, separator, value = line.partition("=")
            if not separator:
                raise forms.ValidationError(f"Line {number}: expected KEY=VALUE.")
            build_args[key.strip()] = value
        return build_args

    def api_input(self) -> dict:
        """The create-build body the API would receive, for the API's own validation."""
        data = self.cleaned_data
        return {
            "project_id": data["project"],
            "git_branch": data["git_branch"],
            "git_commit": data["git_commit"].strip() or None,
            "build_args": data["build_args"],
        }
