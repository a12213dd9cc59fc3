"""The three roles (README "Roles") as groups with their permissions.

They live in `reports`, the top of the dependency chain, because they hold permissions of all
three apps. Created by a data migration; `create_roles` tops the groups up and never removes what
an administrator added by hand.
"""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions

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


def create_roles(apps: Apps, *, using: str = "default") -> None:
    """Create the role groups with their permissions (`apps`: a migration's or the real registry)."""
    # Permissions are normally created after the last migration (post_migrate): create them now.
    # (create_permissions skips an app without models_module, which a migration's app stubs lack.)
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True  # type: ignore[assignment]

        create_permissions(app_config, verbosity=0, using=using, apps=apps)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        for permission in permissions:
            app_label, codename = permission.split(".")
            group.permissions.add(
                Permission.objects.using(using).get(content_type__app_label=app_label, codename=codename)
            )
