"""The Viewer, Coach and Admin groups with their permissions (reports/roles.py)."""

from django.db import migrations

from reports.roles import ROLES, create_roles


def add_roles(apps, schema_editor):
    create_roles(apps, using=schema_editor.connection.alias)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("tutoring", "0005_drop_redundant_session_tutor_index"),
        ("scoring", "0005_role_permissions"),
        ("reports", "0004_role_permissions"),
    ]

    operations = [migrations.RunPython(add_roles, remove_roles)]
