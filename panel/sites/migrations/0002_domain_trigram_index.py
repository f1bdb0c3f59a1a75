"""PostgreSQL: a trigram index so that searching sites by part of a domain (`LIKE '%term%'`)
stays an index lookup with tens of thousands of sites. pg_trgm is a trusted extension (PG 13+),
so the database owner may create it. SQLite (embedded default) needs nothing."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS sites_domain_trgm_idx ON sites USING gin (domain gin_trgm_ops)"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS sites_domain_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("sites", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
