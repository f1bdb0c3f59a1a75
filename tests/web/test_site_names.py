"""The Domain names card and the new-site form's www option, through the views."""

from __future__ import annotations

import pytest

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.sites.models import Site, SiteDomain
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(owner):
    return SiteFactory(created_by=owner, domain="kedai.co.id")


def test_the_new_site_form_offers_www_ticked_with_the_apex_rule(owner_client):
    page = owner_client.get("/sites/new/").content.decode()
    assert 'name="www"' in page and "checked" in page.split('name="www"')[1].split(">")[0]
    assert 'data-apex-for="domain"' in page and "co.id" in page


def test_creating_with_www_serves_the_pair(owner_client, owner):
    resp = owner_client.post(
        "/sites/new/", {"domain": "Warung.co.id", "runtime": "static", "www": "on"}
    )
    assert resp.status_code == 302
    site = Site.objects.get(domain="warung.co.id")
    assert list(site.aliases.values_list("domain", flat=True)) == ["www.warung.co.id"]
    created = AuditLog.objects.get(action="site.create", target_id=str(site.pk))
    assert created.metadata["aliases"] == ["www.warung.co.id"]


def test_creating_without_www_adds_no_name(owner_client):
    resp = owner_client.post("/sites/new/", {"domain": "tanpa.co.id", "runtime": "static"})
    assert resp.status_code == 302
    assert not SiteDomain.objects.exists()


def test_the_site_page_lists_the_names_and_says_the_primary_is_fixed(owner_client, site):
    SiteDomain.objects.create(site=site, domain="www.kedai.co.id")
    SiteDomain.objects.create(site=site, domain="xn--bcher-kva.example")
    page = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert page.count('data-testid="site-name"') == 3
    assert "bücher.example" in page and "www.kedai.co.id" in page
    assert 'data-testid="primary-fixed"' in page
    assert f'action="/sites/{site.pk}/aliases/"' in page
    assert f'action="/sites/{site.pk}/redirect/"' in page


def test_adding_a_name_queues_a_job_with_its_audit_entry(owner_client, site):
    resp = owner_client.post(f"/sites/{site.pk}/aliases/", {"domain": "Toko.Kedai.co.id."})
    job = Job.objects.get(site_id=site.pk, type="site.aliases")
    assert resp.status_code == 302 and resp["Location"] == f"/jobs/{job.pk}/"
    assert job.payload["add"] == "toko.kedai.co.id"
    assert SiteDomain.objects.filter(site=site, domain="toko.kedai.co.id").exists()
    entry = AuditLog.objects.get(action="site.alias_add", target_id=str(site.pk))
    assert entry.metadata["add"] == "toko.kedai.co.id"
    assert entry.metadata["job_id"] == str(job.pk)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a.com;\nlocation / {}", "spaces"),
        ("a.com; include /etc/passwd", "spaces"),
        ("$host.example", "not a valid domain name"),
        ("{a}.example", "not a valid domain name"),
        ("*.kedai.co.id", "Wildcard"),
        ("", "This field is required"),
    ],
)
def test_a_hostile_name_comes_back_with_a_clear_error(owner_client, site, value, message):
    resp = owner_client.post(f"/sites/{site.pk}/aliases/", {"domain": value})
    assert resp.status_code == 400
    assert message in resp.content.decode()
    assert not SiteDomain.objects.exists() and not Job.objects.exists()


def test_another_customers_name_is_refused_in_the_form(owner_client, site, outsider):
    SiteFactory(created_by=outsider, domain="punya-orang.example")
    resp = owner_client.post(f"/sites/{site.pk}/aliases/", {"domain": "PUNYA-ORANG.example."})
    assert resp.status_code == 400
    assert "already used by a site" in resp.content.decode()
    assert not SiteDomain.objects.exists()


def test_an_outsider_cannot_add_remove_or_redirect(outsider_client, site):
    SiteDomain.objects.create(site=site, domain="www.kedai.co.id")
    for url, data in [
        ("aliases/", {"domain": "mine.example"}),
        ("aliases/remove/", {"domain": "www.kedai.co.id"}),
        ("redirect/", {"redirect_mode": "to_primary"}),
    ]:
        assert outsider_client.post(f"/sites/{site.pk}/{url}", data).status_code == 404
    assert SiteDomain.objects.count() == 1 and not Job.objects.exists()


def test_removing_and_redirecting_through_the_views(owner_client, site):
    SiteDomain.objects.create(site=site, domain="baru.example")
    resp = owner_client.post(
        f"/sites/{site.pk}/redirect/", {"redirect_mode": "to_alias", "redirect_to": "baru.example"}
    )
    job = Job.objects.get(site_id=site.pk, type="site.aliases")
    assert resp.status_code == 302, resp.content.decode()[:500]
    assert job.payload["redirect_mode"] == "to_alias"
    assert job.payload["redirect_to"] == "baru.example"
    Job.objects.all().delete()
    resp = owner_client.post(f"/sites/{site.pk}/aliases/remove/", {"domain": "baru.example"})
    job = Job.objects.get(site_id=site.pk, type="site.aliases")
    assert resp.status_code == 302 and job.payload["remove"] == "baru.example"
    # The row stays until nginx serves without the name.
    assert SiteDomain.objects.filter(domain="baru.example").exists()


def test_the_name_changes_need_the_csrf_token(csrf_client, owner, site):
    """Attack: another site's page makes the owner's browser post a name change."""
    SiteDomain.objects.create(site=site, domain="www.kedai.co.id")
    csrf_client.force_login(owner)
    for url, data in [
        ("aliases/", {"domain": "mine.example"}),
        ("aliases/remove/", {"domain": "www.kedai.co.id"}),
        ("redirect/", {"redirect_mode": "to_primary"}),
    ]:
        assert csrf_client.post(f"/sites/{site.pk}/{url}", data).status_code == 403
    resp = csrf_client.post("/sites/new/", {"domain": "csrf.example", "runtime": "static"})
    assert resp.status_code == 403
    assert SiteDomain.objects.count() == 1 and not Job.objects.exists()
    site.refresh_from_db()
    assert site.redirect_mode == "serve_all"


def test_the_redirect_target_cannot_be_a_name_outside_the_site(owner_client, site, outsider):
    """Attack: an open redirect, with redirect_to set to any host, or to another customer's
    name, or with a value carrying nginx syntax."""
    SiteDomain.objects.create(site=site, domain="www.kedai.co.id")
    SiteFactory(created_by=outsider, domain="tetangga.example")
    for target in (
        "evil.example",
        "tetangga.example",
        "https://evil.example",
        "www.kedai.co.id/../evil",
        "www.kedai.co.id; return 301 https://evil.example",
        "$host",
        "www.kedai.co.id\n",
    ):
        resp = owner_client.post(
            f"/sites/{site.pk}/redirect/", {"redirect_mode": "to_alias", "redirect_to": target}
        )
        assert resp.status_code == 400, target
    for mode in ("to_evil", "serve_all;", "", "TO_PRIMARY"):
        resp = owner_client.post(f"/sites/{site.pk}/redirect/", {"redirect_mode": mode})
        assert resp.status_code == 400, mode
    assert not Job.objects.exists()


def test_get_is_not_allowed(owner_client, site):
    for url in ("aliases/", "aliases/remove/", "redirect/"):
        assert owner_client.get(f"/sites/{site.pk}/{url}").status_code == 405


def test_the_site_list_finds_a_site_by_any_of_its_names(owner_client, site, outsider):
    SiteDomain.objects.create(site=site, domain="xn--kopi-lwak-v9a.example")
    other = SiteFactory(created_by=outsider, domain="lain.example")
    SiteDomain.objects.create(site=other, domain="kopi-lain.example")
    page = owner_client.get("/sites/?q=kopi-lüwak").content.decode()
    assert "kedai.co.id" in page
    page = owner_client.get("/sites/?q=kopi").content.decode()
    assert "kedai.co.id" in page and "lain.example" not in page  # only one's own sites


def test_the_admin_shows_a_sites_names_read_only(admin_client, site):
    SiteDomain.objects.create(site=site, domain="www.kedai.co.id")
    page = admin_client.get(f"/admin/sites/site/{site.pk}/change/").content.decode()
    assert "www.kedai.co.id" in page
    found = admin_client.get("/admin/sites/site/?q=www.kedai").content.decode()
    assert "kedai.co.id" in found


def test_a_mixed_script_lookalike_is_shown_as_what_it_is(admin_client, site, outsider):
    """Attack: a customer names a site exаmple-style (a Cyrillic а among Latin letters). It is
    another name in DNS, so nothing of the real owner's is taken; but shown in Unicode it
    looks exactly like the neighbour's name in the admin's list and on its pages. Like the
    browsers, the panel shows such a name in its ASCII (xn--) form."""
    from panel.sites.domains import normalize_domain, to_unicode

    lookalike = normalize_domain("k\u0435dai.co.id")  # Cyrillic е
    assert lookalike != site.domain
    SiteFactory(created_by=outsider, domain=lookalike)
    assert to_unicode(lookalike) == lookalike.lower()
    page = admin_client.get("/sites/").content.decode()
    assert lookalike in page and "k\u0435dai.co.id" not in page
    # Names in one script (or Latin with its own accents) stay readable.
    for name in ("bücher.id", "джемо.example", "βόλος.example", "例え.jp", "xn--9ca.com"):
        assert to_unicode(normalize_domain(name)) == (name if name != "xn--9ca.com" else "é.com")
