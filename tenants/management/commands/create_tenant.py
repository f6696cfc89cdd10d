"""manage.py create_tenant NAME [--owner EMAIL] — prints the new tenant's UUID."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from tenants.services import create_tenant


class Command(BaseCommand):
    help = "Create a tenant and print its UUID (the X-Tenant-ID header value)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", metavar="EMAIL", help="An existing user who becomes the tenant's owner.")

    def handle(self, *args, name, owner, **options):
        if not name.strip():
            raise CommandError("The tenant name must not be blank.")
        owner_user = None
        if owner:
            owner_user = User.objects.filter(email__iexact=owner).first()
            if owner_user is None:
                raise CommandError(f"No user with email {owner}; create it first with create_user.")
        tenant = create_tenant(name=name.strip(), owner=owner_user)
        self.stdout.write(str(tenant.id))
