"""sites.node_id: the node each site lives on. Every existing site belongs to the local node
(created by nodes 0001). The lead re-chains this after 0006 when merging."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models



def _backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # The new FK is DEFERRABLE INITIALLY DEFERRED: check the rows now, so that the
        # ALTER ... SET NOT NULL below finds no pending trigger events.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    alias = schema_editor.connection.alias
    Node = apps.get_model("nodes", "Node")
    node, _ = Node.objects.using(alias).get_or_create(
        name=settings.NUSANTARA_NODE, defaults={"address": "127.0.0.1"}
    )
    apps.get_model("sites", "Site").objects.using(alias).filter(node__isnull=True).update(
        node=node
    )


def _db_default(apps, schema_editor):
    # INSERTs that know only the seed's columns keep working: the column defaults to the local
    # node (nodes_local_id(), nodes 0001). The ORM always names the node itself.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE sites ALTER COLUMN node_id SET DEFAULT nodes_local_id()"
        )


def _no_db_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE sites ALTER COLUMN node_id DROP DEFAULT")


class Migration(migrations.Migration):
    dependencies = [
        ("sites", "0007_site_disk_usage"),
        ("nodes", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="node",
            field=models.ForeignKey(
                db_column="node_id",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="sites",
                to="nodes.node",
                verbose_name="node",
            ),
        ),
        migrations.RunPython(_backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="site",
            name="node",
            field=models.ForeignKey(
                db_column="node_id",
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="sites",
                to="nodes.node",
                verbose_name="node",
            ),
        ),
        migrations.RunPython(_db_default, _no_db_default),
    ]
