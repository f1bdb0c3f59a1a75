"""updated_at BEFORE UPDATE triggers on PostgreSQL (the seed's note), for users, sites and
ssl_certificates, so that plain-SQL updates move updated_at too. SQLite relies on auto_now."""

from django.db import migrations

TABLES = ("users", "sites", "ssl_certificates")

FUNCTION = """
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_set_updated_at ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS set_updated_at()")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("sites", "0001_initial"),
        ("certificates", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
