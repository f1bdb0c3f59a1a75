"""The disk use of a site's home (issue 13 item 6): two nullable columns, written only by the
periodic measurement (panel/tenancy/usage.py). NULL = not measured yet."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sites", "0006_site_domains"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="disk_bytes",
            field=models.BigIntegerField(blank=True, null=True, verbose_name="disk use"),
        ),
        migrations.AddField(
            model_name="site",
            name="disk_measured_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="disk use measured at"
            ),
        ),
    ]
