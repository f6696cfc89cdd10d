"""manage.py create_user EMAIL [--password-stdin] [--superuser]."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def create_user(monkeypatch):
    """create_user(*args, stdin=...) -> stdout; the password arrives on standard input."""

    def run(*args: str, stdin: str = "s3cret-password\n") -> str:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        out = io.StringIO()
        call_command("create_user", *args, stdout=out)
        return out.getvalue()

    return run


@pytest.mark.parametrize("flags,superuser", [([], False), (["--superuser"], True)])
def test_create_user_reads_the_password_from_stdin(create_user, flags, superuser):
    output = create_user("Dev@Example.com", "--password-stdin", *flags)
    user = User.objects.get(email="dev@example.com")
    assert user.check_password("s3cret-password")
    assert user.is_superuser is superuser and user.is_staff is superuser
    assert "dev@example.com" in output and str(user.pk) in output


def test_password_keeps_inner_spaces_and_drops_only_the_newline(create_user):
    create_user("spaces@example.com", "--password-stdin", stdin=" pass word \n")
    assert User.objects.get(email="spaces@example.com").check_password(" pass word ")


@pytest.mark.parametrize("email", ["taken@example.com", "TAKEN@example.com"])
def test_duplicate_email_is_an_error(create_user, make_user, email):
    make_user("taken@example.com")
    with pytest.raises(CommandError, match="already exists"):
        create_user(email, "--password-stdin")
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


@pytest.mark.parametrize(
    "email,stdin,message",
    [
        ("short@example.com", "short\n", "at least 8"),
        ("not-an-email", "long-enough-1\n", "email"),
    ],
)
def test_bad_input_is_an_error_and_creates_nothing(create_user, email, stdin, message):
    with pytest.raises(CommandError, match=message):
        create_user(email, "--password-stdin", stdin=stdin)
    assert not User.objects.exists()


def test_the_created_user_can_log_in(create_user, client):
    create_user("login@example.com", "--password-stdin")
    response = client.post(
        "/api/v1/auth/login",
        {"email": "login@example.com", "password": "s3cret-password"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
