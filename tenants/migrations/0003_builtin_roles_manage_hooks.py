"""Gives the built-in roles the permissions added since 0002 (project:manage, webhook:manage)."""

from django.db import migrations

from tenants.roles import BUILTIN_ROLES


def update_roles(apps, schema_editor):
    Role = apps.get_model("tenants", "Role")
    for name, permissions in BUILTIN_ROLES.items():
        Role.objects.update_or_create(name=name, defaults={"permissions": list(permissions)})


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_builtin_roles")]

    operations = [migrations.RunPython(update_roles, migrations.RunPython.noop)]
