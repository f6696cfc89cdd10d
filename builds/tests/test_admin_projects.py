"""Projects in the admin: credentials and secrets are set, replaced and cleared, never shown."""

from __future__ import annotations

import pytest

from builds.models import Project

SECRET_VALUES = {
    "registry_username": "robot-user-7f3a",
    "registry_password": "registry-pass-9c1e",
    "git_username": "git-user-2b8d",
    "git_password": "git-pass-5e4f",
    "git_ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nkey-body-6a0b\n-----END OPENSSH PRIVATE KEY-----",
}
BUILD_SECRET = "npm-token-3d9c"


@pytest.fixture
def stored_project(make_project, tenant):
    return make_project(
        tenant,
        name="app",
        repository_url="https://git.example.com/team/app.git",
        image_repository="registry.example.com/team/app",
        secrets={"NPM_TOKEN": BUILD_SECRET},
        **SECRET_VALUES,
    )


def _form_data(project: Project, **changes) -> dict:
    data = {
        "name": project.name,
        "repository_url": project.repository_url,
        "default_branch": project.default_branch,
        "dockerfile_path": project.dockerfile_path,
        "build_context": project.build_context,
        "image_repository": project.image_repository,
        "build_timeout_seconds": project.build_timeout_seconds,
    }
    return {**data, **changes}


def _change_url(project: Project) -> str:
    return f"/admin/builds/project/{project.pk}/change/"


def test_no_stored_value_appears_in_the_change_page_or_list(admin_browser, stored_project):
    pages = [admin_browser.get(_change_url(stored_project)), admin_browser.get("/admin/builds/project/")]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        for value in [*SECRET_VALUES.values(), BUILD_SECRET, "key-body-6a0b"]:
            assert value not in html
    change_page = pages[0].content.decode()
    assert "Currently set" in change_page and "Stored: NPM_TOKEN" in change_page


def test_saving_other_fields_keeps_every_stored_value(admin_browser, stored_project):
    response = admin_browser.post(_change_url(stored_project), _form_data(stored_project, default_branch="develop"))

    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(pk=stored_project.pk)
    assert project.default_branch == "develop"
    assert {name: getattr(project, name) for name in SECRET_VALUES} == SECRET_VALUES
    assert project.secrets == {"NPM_TOKEN": BUILD_SECRET}


def test_set_replaces_and_clear_empties(admin_browser, stored_project):
    response = admin_browser.post(
        _change_url(stored_project),
        _form_data(
            stored_project,
            set_registry_password="new-registry-pass",
            clear_git_password="on",
            clear_git_ssh_private_key="on",
            set_secrets="NPM_TOKEN=new-token\nPIP_INDEX=https://pypi.internal/simple",
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(pk=stored_project.pk)
    assert project.registry_password == "new-registry-pass"
    assert project.registry_username == SECRET_VALUES["registry_username"]
    assert (project.git_password, project.git_ssh_private_key) == ("", "")
    assert project.git_username == SECRET_VALUES["git_username"]
    assert project.secrets == {"NPM_TOKEN": "new-token", "PIP_INDEX": "https://pypi.internal/simple"}


def test_clear_secrets(admin_browser, stored_project):
    admin_browser.post(_change_url(stored_project), _form_data(stored_project, clear_secrets="on"))

    assert Project.objects.get(pk=stored_project.pk).secrets == {}


def test_set_and_clear_together_is_a_form_error(admin_browser, stored_project):
    response = admin_browser.post(
        _change_url(stored_project), _form_data(stored_project, set_git_password="x", clear_git_password="on")
    )

    assert response.status_code == 200
    assert "Either set a new value or clear it, not both." in response.content.decode()
    assert Project.objects.get(pk=stored_project.pk).git_password == SECRET_VALUES["git_password"]


def test_moving_the_repository_to_another_host_drops_its_git_credentials(admin_browser, stored_project):
    """The admin saves through the same service as PATCH, with the same host binding."""
    admin_browser.post(
        _change_url(stored_project),
        _form_data(stored_project, repository_url="https://elsewhere.example.org/x/app.git"),
    )

    project = Project.objects.get(pk=stored_project.pk)
    assert (project.git_username, project.git_password, project.git_ssh_private_key) == ("", "", "")
    assert project.registry_password == SECRET_VALUES["registry_password"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("repository_url", "https://user:pw@git.example.com/team/app.git", "Must not contain credentials"),
        ("image_repository", "registry.example.com/team/app:latest", "Must not contain a tag"),
        ("dockerfile_path", "../Dockerfile", "Must not leave the repository"),
        ("set_secrets", "not a pair", "expected NAME=value"),
        ("name", "taken", "is already used in this tenant"),
    ],
)
def test_invalid_input_is_a_form_error(admin_browser, stored_project, make_project, field, value, message):
    make_project(stored_project.tenant, name="taken")

    response = admin_browser.post(_change_url(stored_project), _form_data(stored_project, **{field: value}))

    assert response.status_code == 200
    assert message in response.content.decode()


def test_add_a_project_with_credentials(admin_browser, tenant):
    blank = Project(tenant=tenant, name="new-app", repository_url="https://git.example.com/team/new.git")
    response = admin_browser.post(
        "/admin/builds/project/add/",
        _form_data(blank, tenant=str(tenant.pk), set_git_password="pat-1234", set_secrets="TOKEN=abc"),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(tenant=tenant, name="new-app")
    assert (project.git_password, project.secrets, project.build_counter) == ("pat-1234", {"TOKEN": "abc"}, 0)
    assert admin_browser.get(_change_url(project)).status_code == 200


def test_search_and_tenant_filter(admin_browser, make_tenant, make_project):
    ours, theirs = make_tenant("ours"), make_tenant("theirs")
    make_project(ours, name="payments-api")
    make_project(theirs, name="payments-web")
    make_project(theirs, name="search")

    searched = admin_browser.get("/admin/builds/project/", {"q": "payments"}).content.decode()
    filtered = admin_browser.get("/admin/builds/project/", {"q": "payments", "tenant__id__exact": ours.pk})

    assert "payments-api" in searched and "payments-web" in searched and ">search<" not in searched
    assert "payments-api" in filtered.content.decode() and "payments-web" not in filtered.content.decode()
