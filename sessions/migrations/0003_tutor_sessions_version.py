from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tutoring', '0002_session_no_show_by_not_null'),
    ]

    operations = [
        migrations.AddField(
            model_name='tutor',
            name='sessions_version',
            field=models.PositiveBigIntegerField(default=0, editable=False),
        ),
    ]
