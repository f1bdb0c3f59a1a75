from django.db import migrations, models


class Migration(migrations.Migration):
    # The lead re-points this at 0004_site_hsts at merge.
    dependencies = [
        ("sites", "0003_site_suspended_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="system_user",
            field=models.TextField(
                blank=True, null=True, unique=True, verbose_name="system user"
            ),
        ),
    ]
