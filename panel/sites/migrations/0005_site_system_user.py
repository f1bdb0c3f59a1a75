from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sites", "0004_site_hsts"),
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
