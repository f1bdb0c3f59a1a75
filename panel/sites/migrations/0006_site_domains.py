"""A site's other names (table site_domains) and its redirect mode (sites.redirect_mode).

On PostgreSQL a trigger on both tables keeps every name unique over sites.domain and
site_domains.domain together (each table's own UNIQUE index covers it within the table). It
takes a transaction-level advisory lock on the name before looking, so two transactions that
add the same name to the two tables at once are serialised: the second one waits, then sees
the first one's committed row (READ COMMITTED takes a new snapshot per statement) and fails
with unique_violation. The services take the same lock to give a friendly message first."""

import uuid

import django.db.models.deletion
import django.db.models.functions.uuid
from django.conf import settings
from django.db import migrations, models

import panel.common

FUNCTION = """
CREATE OR REPLACE FUNCTION site_names_unique() RETURNS trigger AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('site-name:' || NEW.domain));
  IF TG_TABLE_NAME = 'sites' THEN
    IF EXISTS (SELECT 1 FROM site_domains WHERE domain = NEW.domain) THEN
      RAISE EXCEPTION 'domain % is already an alias of a site', NEW.domain
        USING ERRCODE = 'unique_violation', CONSTRAINT = 'site_names_unique';
    END IF;
  ELSIF EXISTS (SELECT 1 FROM sites WHERE domain = NEW.domain) THEN
    RAISE EXCEPTION 'domain % is already the domain of a site', NEW.domain
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'site_names_unique';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
TRIGGERS = {"sites": "sites_names_unique", "site_domains": "site_domains_names_unique"}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table, trigger in TRIGGERS.items():
        schema_editor.execute(
            f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE OF domain ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION site_names_unique()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, trigger in TRIGGERS.items():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS site_names_unique()")


class Migration(migrations.Migration):

    dependencies = [
        ('sites', '0005_site_system_user'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SiteDomain',
            fields=[
                ('id', models.UUIDField(db_default=django.db.models.functions.uuid.UUID4(), default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('domain', models.TextField(unique=True, verbose_name='domain')),
                ('created_at', models.DateTimeField(db_default=panel.common.DbNow(), editable=False)),
            ],
            options={
                'verbose_name': 'alias',
                'verbose_name_plural': 'aliases',
                'db_table': 'site_domains',
                'ordering': ['domain'],
            },
        ),
        migrations.AddField(
            model_name='site',
            name='redirect_mode',
            field=models.TextField(choices=[('serve_all', 'Serve the site under every name'), ('to_primary', 'Redirect every other name to the primary domain'), ('to_www', 'Redirect every other name to www. of the primary domain'), ('to_alias', 'Redirect every other name to another of its names')], db_default='serve_all', default='serve_all', verbose_name='redirect mode'),
        ),
        migrations.AddField(
            model_name='site',
            name='redirect_to',
            field=models.TextField(blank=True, null=True, verbose_name='redirect to'),
        ),
        migrations.AddConstraint(
            model_name='site',
            constraint=models.CheckConstraint(condition=models.Q(('redirect_mode__in', ['serve_all', 'to_primary', 'to_www', 'to_alias'])), name='sites_redirect_mode_check'),
        ),
        migrations.AddConstraint(
            model_name='site',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('redirect_mode', 'to_alias'), ('redirect_to__isnull', False)), models.Q(models.Q(('redirect_mode', 'to_alias'), _negated=True), ('redirect_to__isnull', True)), _connector='OR'), name='sites_redirect_to_check'),
        ),
        migrations.AddField(
            model_name='sitedomain',
            name='site',
            field=models.ForeignKey(db_column='site_id', on_delete=django.db.models.deletion.DB_CASCADE, related_name='aliases', to='sites.site', verbose_name='site'),
        ),
        migrations.RunPython(forwards, backwards),
    ]
