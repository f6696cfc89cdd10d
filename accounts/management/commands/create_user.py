"""manage.py create_user EMAIL [--password-stdin] [--superuser] [--name NAME]"""

import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User


class Command(BaseCommand):
    help = "Create a user who logs in with EMAIL. Asks for the password unless --password-stdin."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        parser.add_argument("--superuser", action="store_true", help="Make the user a system administrator.")
        parser.add_argument("--name", default="")

    def handle(self, *args, email, password_stdin, superuser, name, **options):
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"A user with email {email} already exists.")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        if len(password) < 8:
            raise CommandError("The password must have at least 8 characters.")
        create = User.objects.create_superuser if superuser else User.objects.create_user
        try:
            user = create(email=email, password=password, name=name)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        kind = "system administrator" if superuser else "user"
        self.stdout.write(f"Created {kind} {user.email} (id {user.pk})")
