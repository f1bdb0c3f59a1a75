"""/nodes/ and /nodes/new/ (admins), the node actions, the node on /sites/new/ and the site page,
and "waiting for node X" while a node is offline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from panel.audit.models import AuditLog
from panel.jobs.models import Job, JobStatus
from panel.nodes.models import Node, NodeStatus
from panel.sites.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_list_shows_each_node_with_its_counts_and_health(admin_client, local_node, node_b):
    Node.objects.filter(pk=node_b.pk).update(
        last_heartbeat_at=timezone.now() - timedelta(seconds=30),
        health={
            "nginx": {"state": "ok", "reason": "answers on 127.0.0.1:8080"},
            "php-fpm": {"state": "down", "reason": "php-fpm is not running"},
        },
    )
    site = SiteFactory(node=node_b)
    SiteFactory(node=node_b)
    Job.objects.create(type="site.provision", status=JobStatus.FAILED, site_id=site.pk, node=node_b)
    body = admin_client.get("/nodes/").content.decode()
    row = body[body.index('data-node="node-b"') :]
    row = row[: row.index("</tr>")]
    assert "10.0.0.2" in row
    assert "<td>2</td>" in row  # sites
    assert 'status=failed">1</a>' in row  # failed jobs
    assert "online" in row
    assert "answers on 127.0.0.1:8080" in row and "php-fpm is not running" in row
    local = body[body.index('data-node="local"') :]
    assert "never" in local[: local.index("</tr>")]


def test_node_list_queries_do_not_grow_with_nodes_and_sites(admin_client, local_node):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get("/nodes/").status_code == 200
        return len(ctx.captured_queries)

    SiteFactory()
    small = count()
    for i in range(15):
        node = Node.objects.create(name=f"web-{i}", address=f"10.0.1.{i}")
        for _ in range(3):
            site = SiteFactory(node=node)
            Job.objects.create(type="site.provision", status="failed", site_id=site.pk, node=node)
    assert count() == small


def test_admin_registers_a_node_audited_with_its_schedules(admin_client, admin_user):
    from django_q.models import Schedule

    response = admin_client.post("/nodes/new/", {"name": "web-2", "address": "10.0.0.12"})
    assert response.status_code == 302
    node = Node.objects.get(name="web-2")
    assert (node.address, node.status) == ("10.0.0.12", NodeStatus.ACTIVE)
    entry = AuditLog.objects.get(action="node.create")
    assert entry.actor == admin_user and entry.metadata["name"] == "web-2"
    funcs = set(Schedule.objects.filter(cluster="web-2").values_list("func", "name"))
    assert funcs == {
        ("panel.ops.heartbeat.beat", "ops.heartbeat@web-2"),
        ("panel.jobs.recovery.reap", "jobs.reaper@web-2"),
        ("panel.certificates.services.renewal_run", "ssl-renewal@web-2"),
        ("panel.tenancy.usage.measure_all", "tenancy.disk_usage@web-2"),
    }


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "Web_2", "address": "10.0.0.2"}, "name", "lower-case letters"),
        ({"name": "web-2", "address": "10.0.0.2:22"}, "address", "without a port"),
        ({"name": "local", "address": "10.0.0.2"}, "name", "already exists"),
    ],
)
def test_bad_node_input_is_refused_with_a_clear_message(admin_client, data, field, message):
    Node.local()
    before = Node.objects.count()
    response = admin_client.post("/nodes/new/", data)
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert Node.objects.count() == before
    assert not AuditLog.objects.filter(action="node.create").exists()


def test_drain_disable_activate_are_audited(admin_client, node_b, admin_user):
    url = f"/nodes/{node_b.pk}/status/"
    for status, action in [
        ("draining", "node.drain"),
        ("disabled", "node.disable"),
        ("active", "node.activate"),
    ]:
        assert admin_client.post(url, {"status": status}).status_code == 302
        node_b.refresh_from_db()
        assert node_b.status == status
        assert AuditLog.objects.filter(action=action, actor=admin_user).count() == 1
    assert admin_client.post(url, {"status": "gone"}).status_code == 302
    node_b.refresh_from_db()
    assert node_b.status == "active"


def test_admin_chooses_the_node_on_sites_new(admin_client, local_node, node_b):
    page = admin_client.get("/sites/new/").content.decode()
    assert 'name="node"' in page and 'value="node-b"' in page
    response = admin_client.post(
        "/sites/new/", {"domain": "on-b.example.com", "runtime": "static", "node": "node-b"}
    )
    assert response.status_code == 302
    site = Site.objects.get(domain="on-b.example.com")
    assert site.node == node_b
    job = Job.objects.get(site_id=site.pk)
    assert job.node == node_b
    assert AuditLog.objects.get(action="site.create").metadata["node"] == "node-b"


def test_draining_and_disabled_nodes_take_no_new_site(admin_client, local_node, node_b):
    node_b.status = NodeStatus.DRAINING
    node_b.save()
    page = admin_client.get("/sites/new/").content.decode()
    assert 'value="node-b"' not in page
    response = admin_client.post(
        "/sites/new/", {"domain": "x.example.com", "runtime": "static", "node": "node-b"}
    )
    assert response.status_code == 200
    assert "node" in response.context["form"].errors
    assert not Site.objects.filter(domain="x.example.com").exists()


def test_users_get_the_active_node_with_the_fewest_sites(owner_client, local_node, node_b):
    Node.objects.update(last_heartbeat_at=timezone.now())  # both online
    SiteFactory(node=local_node)
    SiteFactory(node=local_node)
    page = owner_client.get("/sites/new/").content.decode()
    assert 'name="node"' not in page
    # A user cannot pick the node: the field is ignored.
    owner_client.post(
        "/sites/new/", {"domain": "a.example.com", "runtime": "static", "node": "local"}
    )
    assert Site.objects.get(domain="a.example.com").node == node_b
    owner_client.post("/sites/new/", {"domain": "b.example.com", "runtime": "static"})
    assert Site.objects.get(domain="b.example.com").node == node_b
    owner_client.post("/sites/new/", {"domain": "c.example.com", "runtime": "static"})
    # 2 and 2 now: the tie goes by name.
    assert Site.objects.get(domain="c.example.com").node == local_node


def test_users_new_sites_skip_a_node_whose_worker_never_reported(owner_client, local_node, node_b):
    """An admin registers node-b before its worker runs (docs/operations.md "Nodes"): node-b has
    the fewest sites, but a customer's site sent there would wait for nobody."""
    Node.objects.filter(pk=local_node.pk).update(last_heartbeat_at=timezone.now())
    SiteFactory(node=local_node)
    owner_client.post("/sites/new/", {"domain": "a.example.com", "runtime": "static"})
    assert Site.objects.get(domain="a.example.com").node == local_node
    # Once node-b's worker reports, it gets the new sites.
    Node.objects.filter(pk=node_b.pk).update(last_heartbeat_at=timezone.now())
    owner_client.post("/sites/new/", {"domain": "b.example.com", "runtime": "static"})
    assert Site.objects.get(domain="b.example.com").node == node_b
    # No node online at all (a fresh install before the first heartbeat): any active node.
    Node.objects.update(last_heartbeat_at=None)
    owner_client.post("/sites/new/", {"domain": "c.example.com", "runtime": "static"})
    assert Site.objects.get(domain="c.example.com").node == node_b


def test_no_active_node_is_a_clear_error(owner_client, local_node, node_b):
    Node.objects.update(status=NodeStatus.DRAINING)
    response = owner_client.post("/sites/new/", {"domain": "a.example.com", "runtime": "static"})
    assert response.status_code == 200
    assert "No server takes new sites right now" in response.content.decode()
    assert not Site.objects.exists() and not Job.objects.exists()


def test_site_page_shows_its_node_and_waits_for_it_when_offline(owner_client, owner, node_b):
    site = SiteFactory(created_by=owner, node=node_b, status="provisioning")
    job = Job.objects.create(
        type="site.provision", status=JobStatus.QUEUED, site_id=site.pk, node=node_b
    )
    seen = timezone.now() - timedelta(hours=1)
    Node.objects.filter(pk=node_b.pk).update(last_heartbeat_at=seen)
    hhmm = timezone.localtime(seen).strftime("%H:%M")
    page = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'data-testid="site-node">node-b' in page
    assert f"Waiting for node node-b (last seen {hhmm})" in page
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert f"Waiting for node node-b (last seen {hhmm})" in page
    # Back online: no message.
    Node.objects.filter(pk=node_b.pk).update(last_heartbeat_at=timezone.now())
    assert "Waiting for node" not in owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert "Waiting for node" not in owner_client.get(f"/jobs/{job.pk}/").content.decode()


def test_admin_site_page_does_not_read_another_nodes_vhost(admin_client, node_b, local_node):
    site = SiteFactory(node=node_b)
    page = admin_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'data-testid="vhost-remote"' in page and "node node-b" in page
    assert 'data-testid="vhost"' not in page
    logs = admin_client.get(f"/sites/{site.pk}/logs/").content.decode()
    assert "its logs are on that server" in logs
    here = SiteFactory(node=local_node)
    assert (
        'data-testid="vhost-remote"' not in admin_client.get(f"/sites/{here.pk}/").content.decode()
    )


def test_users_cannot_reach_node_pages(owner_client, node_b):
    assert owner_client.get("/nodes/").status_code == 404
    assert (
        owner_client.post(f"/nodes/{node_b.pk}/status/", {"status": "disabled"}).status_code == 404
    )
    node_b.refresh_from_db()
    assert node_b.status == "active"


def test_browser_uploads_for_a_site_on_another_node_are_refused(admin_client, node_b):
    site = SiteFactory(node=node_b)
    response = admin_client.post(
        f"/sites/{site.pk}/certificate/upload/",
        {"chain_pem": "-----BEGIN CERTIFICATE-----", "key_pem": "x"},
    )
    assert "this site lives on node node-b" in response.content.decode()
    assert not Job.objects.filter(site_id=site.pk).exists()
    from io import BytesIO

    upload = BytesIO(b"<h1>hi</h1>")
    upload.name = "index.html"
    response = admin_client.post(f"/sites/{site.pk}/files/", {"files": upload})
    assert "this site lives on node node-b" in response.content.decode()
    assert not Job.objects.filter(site_id=site.pk).exists()
