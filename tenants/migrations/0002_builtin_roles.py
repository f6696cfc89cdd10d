"""Creates the built-in roles owner, developer and viewer."""

from django.db import migrations

from tenants.roles import BUILTIN_ROLES


def create_roles(apps, schema_editor):
    Role = apps.get_model("tenants", "Role")
    for name, permissions in BUILTIN_ROLES.items():
        Role.objects.update_or_create(name=name, defaults={"permissions": list(permissions)})


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
