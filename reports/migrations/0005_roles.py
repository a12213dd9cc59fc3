"""The three roles as groups with their permissions (README "Roles").

It lives in `reports`, the top of the dependency chain, because the roles hold permissions of all
three apps. Re-running it (or a later one) tops the groups up; it never removes what an
administrator added by hand.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = [
    "tutoring.view_tutor",
    "tutoring.view_session",
    "tutoring.view_reschedule",
    "scoring.view_tutorscore",
    "scoring.view_tutorscorehistory",
    "scoring.view_alert",
    "scoring.view_alertevent",
    "scoring.view_scoringsettings",
    "reports.view_emailreport",
]
COACH = [*VIEWER, "scoring.act_on_alert"]
ADMIN = [
    *COACH,
    "scoring.export_tutors",
    "scoring.change_scoringsettings",
    "reports.resend_email",
    "tutoring.view_apikey",
    "tutoring.add_apikey",
    "tutoring.change_apikey",
]
ROLES = {"Viewer": VIEWER, "Coach": COACH, "Admin": ADMIN}


def create_roles(apps, schema_editor):
    # Permissions are normally created after the last migration (post_migrate): create them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, using=schema_editor.connection.alias, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for permission in permissions:
            app_label, codename = permission.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("tutoring", "0005_drop_redundant_session_tutor_index"),
        ("scoring", "0004_role_permissions"),
        ("reports", "0004_role_permissions"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
