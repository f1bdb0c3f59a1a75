"""Red-team attacks on nodes (#14) and visible_to (#11) that held: kept as tests so they keep
holding. Two customers (owner, outsider) and two nodes (local, node-b)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from panel.certificates.models import SslCertificate
from panel.jobs.models import Job, JobStatus
from panel.nodes.models import Node
from panel.sites.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_a_user_posting_a_node_on_sites_new_does_not_choose_it(owner_client, owner, node_b):
    """The `node` field exists for admins only; a user's POST of it is ignored, the site goes to
    the automatic choice (here local: node-b is busier)."""
    local = Node.local()
    for _ in range(2):
        SiteFactory(node=node_b)
    response = owner_client.post(
        "/sites/new/",
        {"domain": "picked.example.com", "runtime": "static", "node": "node-b", "https": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Site.objects.get(domain="picked.example.com").node == local


def test_users_never_see_a_nodes_address_or_the_node_pages(owner_client, owner, node_b):
    site = SiteFactory(node=node_b, created_by=owner)
    job = Job.objects.create(type="site.provision", payload={}, site_id=site.pk, node=node_b)
    for url in (f"/sites/{site.pk}/", f"/jobs/{job.pk}/", "/sites/", "/jobs/", "/"):
        body = owner_client.get(url).content.decode()
        assert "10.0.0.2" not in body, url
        assert 'href="/nodes/"' not in body, url
    for url in ("/nodes/", "/nodes/new/"):
        assert owner_client.get(url).status_code == 404
    assert (
        owner_client.post("/nodes/new/", {"name": "evil", "address": "1.2.3.4"}).status_code == 404
    )
    assert not Node.objects.filter(name="evil").exists()


def test_a_node_with_sites_or_jobs_cannot_be_deleted(node_b):
    """NO ACTION foreign keys (checked at commit, as Django makes them deferrable): forced
    immediate here, as a commit would."""
    SiteFactory(node=node_b)
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        node_b.delete()
    assert Node.objects.filter(pk=node_b.pk).exists()


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/sites/",
        "/sites/?q=theirs",
        "/sites/?owner={other_name}",
        "/jobs/",
        "/jobs/?status=failed",
        "/certificates/",
        "/audit/",
        "/audit/export.csv",
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_another_customers_objects_are_in_no_list(url, htmx, owner_client, owner, outsider):
    """Every list, with filters and as an htmx fragment: nothing of the outsider's site (its
    domain, its job, its certificate) reaches the owner."""
    SiteFactory(created_by=owner, domain="mine.example.com")
    theirs = SiteFactory(created_by=outsider, domain="theirs-secret.example.com")
    job = Job.objects.create(
        type="site.provision",
        payload={"domain": theirs.domain},
        site_id=theirs.pk,
        created_by=outsider,
        status=JobStatus.FAILED,
        error_message="theirs-secret failure",
    )
    SslCertificate.objects.create(site=theirs, provider="letsencrypt", status="failed")
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = owner_client.get(url.format(other_name=outsider.username), **headers)
    assert response.status_code in (200, 404), (url, response.status_code)
    body = response.content.decode()
    assert "theirs-secret" not in body, url
    assert str(job.pk) not in body and str(theirs.pk) not in body, url


@pytest.mark.parametrize("sftp_host", ["", "sftp.panel.example"])
def test_the_sftp_card_of_a_remote_site_does_not_point_at_this_server(
    owner_client, owner, node_b, settings, sftp_host
):
    """Attack: a site on node-b; its SFTP card told the customer to connect to the panel's own
    host (or the one NUSANTARA_SFTP_HOST), where its home is not (or is a stale copy left after a
    move). It says the site lives on another server instead, and names no host of this one."""
    settings.NUSANTARA_ISOLATION = "on"
    settings.NUSANTARA_SFTP_HOST = sftp_host
    site = SiteFactory(node=node_b, created_by=owner, system_user="np-remote1")
    body = owner_client.get(f"/sites/{site.pk}/").content.decode()
    card = body[body.index('data-testid="sftp-card"') :]
    card = card[: card.index("</section>")]
    assert "@testserver" not in card and "sftp.panel.example" not in card
    assert 'data-testid="sftp-remote"' in card and "node-b" in card
    assert "10.0.0.2" not in card
    here = SiteFactory(created_by=owner, system_user="np-here1", node=Node.local())
    body = owner_client.get(f"/sites/{here.pk}/").content.decode()
    assert f"np-here1@{sftp_host or 'testserver'}" in body


def test_a_disabled_nodes_sites_still_get_their_jobs_on_its_queue(
    node_b, owner, django_capture_on_commit_callbacks
):
    """Drain/disable stops new sites only: a job of an existing site on a disabled node is still
    queued for that node (its worker runs it), never re-routed elsewhere."""
    from django_q.models import OrmQ

    from panel.jobs.services import job_create

    site = SiteFactory(node=node_b, created_by=owner)
    Node.objects.filter(pk=node_b.pk).update(status="disabled")
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(type="site.provision", payload={}, site_id=site.pk)
    assert job.node == node_b
    assert [row.key for row in OrmQ.objects.all()] == ["node-b"]


def test_the_logs_page_of_a_remote_site_reads_nothing_here(owner_client, owner, node_b):
    site = SiteFactory(node=node_b, created_by=owner)
    body = owner_client.get(f"/sites/{site.pk}/logs/").content.decode()
    assert "This site lives on node node-b" in body


@pytest.mark.django_db(transaction=True)
def test_a_drain_committed_while_a_site_is_placed_on_the_node_wins(admin_user):
    """Attack (race): an admin drains node-b while a site is being placed on it. The placement
    read "active" from its snapshot and inserted the site anyway (a FOR UPDATE of the drain does
    not stop a plain read). The chosen node is now read under a share lock: the placement waits
    for the drain, then sees it and refuses."""
    import threading
    import time

    from django.core.exceptions import ValidationError
    from django.db import connections

    from panel.nodes.services import node_for_new_site, node_set_status

    node_b = Node.objects.create(name="node-b", address="10.0.0.2")
    locked = threading.Event()

    def drain() -> None:
        try:
            with transaction.atomic():
                Node.objects.select_for_update().get(pk=node_b.pk)
                locked.set()
                time.sleep(1)
                node_set_status(user=admin_user, node=node_b, status="draining")
        finally:
            connections.close_all()

    thread = threading.Thread(target=drain)
    thread.start()
    assert locked.wait(5)
    try:
        with pytest.raises(ValidationError, match="takes no new sites"), transaction.atomic():
            node_for_new_site(user=admin_user, name="node-b")
    finally:
        thread.join()
