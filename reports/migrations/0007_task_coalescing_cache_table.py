"""The database table of the "coalesce" cache (tutorscore/coalesce.py) when there is no Redis:
the marker saying a processing or outbox task already waits must be shared by every web and
worker process. createcachetable is idempotent."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # By name, whatever CACHES says now: a deployment that drops Redis later finds it ready.
    call_command("createcachetable", "task_coalescing", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("reports", "0006_email_outbox_alert_batches")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
