"""Sites pages: list, create form, detail with live fragment, runtime change, delete
confirmation."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone

from panel.jobs.models import JobStatus
from panel.sites.models import Site, SiteStatus
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sites/", "/sites/new/", "/sites/{pk}/"])
def test_anonymous_is_sent_to_login(client, site, path):
    response = client.get(path.format(pk=site.pk))
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    "suffix", ["", "settings/", "delete/", "certificate/", "certificate/upload/"]
)
def test_outsider_gets_404_for_another_users_site(outsider_client, site, suffix):
    method = outsider_client.get if suffix == "" else outsider_client.post
    assert method(f"/sites/{site.pk}/{suffix}").status_code == 404


def test_unknown_site_is_404(owner_client):
    assert owner_client.get(f"/sites/{uuid.uuid4()}/").status_code == 404


@pytest.mark.parametrize("suffix", ["settings/", "delete/", "certificate/", "certificate/upload/"])
def test_get_on_post_only_views_is_405(owner_client, site, suffix):
    assert owner_client.get(f"/sites/{site.pk}/{suffix}").status_code == 405


@pytest.mark.parametrize("suffix", ["delete/", "certificate/"])
def test_anonymous_post_is_sent_to_login(client, site, suffix):
    response = client.post(f"/sites/{site.pk}/{suffix}")
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


# --- list ---------------------------------------------------------------------------------


def test_list_shows_only_own_sites_in_unicode(owner_client, site, outsider):
    SiteFactory(domain="other.example", created_by=outsider)
    html = owner_client.get("/sites/").content.decode()
    assert "bücher.id" in html
    assert "other.example" not in html


def test_admin_list_shows_every_site_with_owner(admin_client, site, outsider):
    SiteFactory(domain="other.example", created_by=outsider)
    html = admin_client.get("/sites/").content.decode()
    assert "bücher.id" in html and "other.example" in html
    assert "outsider" in html


def test_search_matches_unicode_and_punycode_spelling(owner_client, site, owner):
    SiteFactory(domain="shop.example", created_by=owner)
    for q in ("bücher", "xn--bcher", "BÜCHER.ID"):
        html = owner_client.get("/sites/", {"q": q}).content.decode()
        assert "bücher.id" in html, q
        assert "shop.example" not in html, q


def test_status_filter(owner_client, site, owner):
    SiteFactory(domain="broken.example", created_by=owner, status=SiteStatus.FAILED)
    html = owner_client.get("/sites/", {"status": "failed"}).content.decode()
    assert "broken.example" in html
    assert "bücher.id" not in html


def test_admin_filters_by_owner_and_a_user_cannot(admin_client, owner_client, site, outsider):
    SiteFactory(domain="other.example", created_by=outsider)
    html = admin_client.get("/sites/", {"owner": "outsider"}).content.decode()
    assert "other.example" in html and "bücher.id" not in html
    assert 'name="owner"' in html
    assert "No site matches." in admin_client.get("/sites/", {"owner": "nobody"}).content.decode()
    # For a user the parameter changes nothing: still their own sites, never another's.
    html = owner_client.get("/sites/", {"owner": "outsider"}).content.decode()
    assert "bücher.id" in html and "other.example" not in html
    assert 'name="owner"' not in html


def test_pagination_has_next_and_previous(owner_client, owner):
    for i in range(30):
        SiteFactory(domain=f"s{i:02d}.example", created_by=owner)
    first = owner_client.get("/sites/").content.decode()
    assert "s00.example" in first and "s25.example" not in first
    assert 'rel="next" href="?page=2"' in first
    second = owner_client.get("/sites/", {"page": 2}).content.decode()
    assert "s25.example" in second and "s00.example" not in second
    assert 'rel="prev"' in second
    assert owner_client.get("/sites/", {"page": "junk"}).status_code == 200


# --- create form --------------------------------------------------------------------------


def test_new_form_has_labelled_fields_and_upstream_only_for_proxy(owner_client):
    html = owner_client.get("/sites/new/").content.decode()
    assert '<label for="id_domain">' in html
    assert 'name="runtime"' in html and 'value="proxy"' in html
    assert 'data-show-when="runtime=proxy"' in html
    assert 'name="upstream"' in html
    assert 'name="owner"' not in html


def test_admin_new_form_has_owner_select(admin_client, owner):
    html = admin_client.get("/sites/new/").content.decode()
    assert 'name="owner"' in html
    assert f'value="{owner.pk}"' in html


def test_new_form_errors_are_tied_to_fields(owner_client):
    response = owner_client.post("/sites/new/", {"domain": "", "runtime": "nope"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_domain_error"' in html
    assert 'aria-invalid="true"' in html
    assert 'id="id_runtime_error"' in html


# --- detail -------------------------------------------------------------------------------


def test_owner_sees_detail_with_jobs_and_certificate(owner_client, site, job, make_cert):
    make_cert(site=site, days=45)
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert "bücher.id" in html
    assert site.root_path in html
    assert f"/jobs/{job.pk}/" in html
    assert "Issued" in html
    assert "Renew certificate" in html
    assert 'name="chain_pem"' in html and 'name="key_pem"' in html
    assert 'name="confirm_domain"' in html


def test_admin_sees_any_site(admin_client, site):
    assert admin_client.get(f"/sites/{site.pk}/").status_code == 200


def _poll_url(html: str) -> str:
    match = re.search(r'hx-get="(/sites/[^"]+\?seen=[0-9a-f]+)" hx-trigger="every 2s"', html)
    assert match, "the page does not poll"
    return match.group(1)


def test_detail_polls_while_a_job_runs_and_stops_after(owner_client, site, owner, make_job):
    running = make_job(site=site, user=owner, status=JobStatus.RUNNING)
    poll = _poll_url(owner_client.get(f"/sites/{site.pk}/").content.decode())

    # Nothing ended: only the live fragment (status card and job rows), still polling.
    fragment = owner_client.get(poll, **HTMX)
    body = fragment.content.decode()
    assert "<html" not in body and 'id="site-live"' in body and 'id="site-cards"' not in body
    assert 'hx-trigger="every 2s"' in body and "HX-Retarget" not in fragment.headers
    assert "HX-Request" in fragment.headers["Vary"]

    # The job ended: every card is redrawn in one swap, and the new cards stop polling.
    running.status = JobStatus.SUCCESS
    running.save()
    fragment = owner_client.get(poll, **HTMX)
    body = fragment.content.decode()
    assert fragment.headers["HX-Retarget"] == "#site-cards"
    assert fragment.headers["HX-Reswap"] == "outerHTML"
    assert "<html" not in body and body.lstrip().startswith('<div id="site-cards">')
    assert 'id="site-live"' in body and "hx-trigger" not in body
    for card in ("actions-h", "settings-h", "hsts-h", "delete-h", "audit-h"):
        assert f'id="{card}"' in body


def test_cards_show_what_the_ended_job_changed(owner_client, site, owner, make_job):
    """A runtime change and a suspension ended while the page was open: the refreshed cards
    say so (runtime, a "Suspended" badge instead of "Active", the suspension banner)."""
    running = make_job(site=site, user=owner, status=JobStatus.RUNNING)
    poll = _poll_url(owner_client.get(f"/sites/{site.pk}/").content.decode())
    running.status = JobStatus.SUCCESS
    running.save()
    Site.objects.filter(pk=site.pk).update(
        runtime="proxy", upstream="127.0.0.1:3000", suspended_at=timezone.now()
    )
    body = owner_client.get(poll, **HTMX).content.decode()
    assert "Reverse proxy" in body and "127.0.0.1:3000" in body
    assert 'data-testid="site-suspended"' in body
    status = re.search(r'data-testid="site-status">(.*?)</dd>', body).group(1)
    assert "Suspended" in status and "Active" not in status


def test_htmx_fragment_for_deleted_site_redirects_to_list(owner_client):
    response = owner_client.get(f"/sites/{uuid.uuid4()}/", **HTMX)
    assert response.headers["HX-Redirect"] == "/sites/"


def test_audit_trail_shows_site_entries(owner_client, site, owner):
    from panel.audit.services import audit_record

    audit_record(actor=owner, action="site.create", target=site)
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert "site.create" in html
    # The target by its name, not its UUID; times labelled with the user's zone.
    assert '<td data-testid="audit-target">bücher.id</td>' in html
    assert "(WIB)</span></th>" in html


# --- delete -------------------------------------------------------------------------------


def test_delete_with_wrong_domain_shows_field_error_and_keeps_site(owner_client, site):
    response = owner_client.post(f"/sites/{site.pk}/delete/", {"confirm_domain": "nope.example"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_confirm_domain_error"' in html
    assert "bücher.id" in html
    site.refresh_from_db()
    assert site.status == SiteStatus.ACTIVE


# --- create and delete through the services ---------------------------------------------------


def test_owner_creates_site_and_lands_on_its_page(owner_client, owner):
    response = owner_client.post(
        "/sites/new/", {"domain": "Bücher.ID", "runtime": "static"}, follow=True
    )
    site = owner.sites.get()
    assert site.domain == "xn--bcher-kva.id"
    assert site.status == SiteStatus.PROVISIONING
    assert response.redirect_chain[-1][0] == f"/sites/{site.pk}/"
    html = response.content.decode()
    assert "is being set up" in html
    assert 'hx-trigger="every 2s"' in html  # the provision job is queued: the page polls


def test_https_at_creation_is_passed_to_the_provisioning_job(owner_client, owner):
    owner_client.post("/sites/new/", {"domain": "tls.example", "runtime": "static", "https": "on"})
    owner_client.post("/sites/new/", {"domain": "plain.example", "runtime": "static"})
    payloads = {
        site.domain: site_jobs(site).get(type="site.provision").payload
        for site in owner.sites.all()
    }
    assert payloads["tls.example"]["https"] is True
    assert payloads["plain.example"]["https"] is False


def test_proxy_without_upstream_shows_error_on_upstream(owner_client, owner):
    response = owner_client.post("/sites/new/", {"domain": "app.example", "runtime": "proxy"})
    html = response.content.decode()
    assert 'id="id_upstream_error"' in html
    assert not owner.sites.exists()


def test_upstream_is_ignored_for_static_sites(owner_client, owner):
    owner_client.post(
        "/sites/new/", {"domain": "a.example", "runtime": "static", "upstream": "junk"}
    )
    assert owner.sites.get().upstream is None


def test_duplicate_domain_shows_error_on_domain(owner_client, site):
    response = owner_client.post("/sites/new/", {"domain": "xn--bcher-kva.id", "runtime": "php"})
    html = response.content.decode()
    assert 'id="id_domain_error"' in html and "is already used by a site on this server" in html


def test_quota_shows_error_above_the_form(owner_client, owner, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 1
    SiteFactory(created_by=owner)
    html = owner_client.post("/sites/new/", {"domain": "b.example", "runtime": "static"})
    assert 'class="errorlist nonfield"' in html.content.decode()
    assert owner.sites.count() == 1


def test_admin_creates_site_for_a_user(admin_client, owner):
    admin_client.post(
        "/sites/new/",
        {
            "domain": "for-owner.example",
            "runtime": "proxy",
            "upstream": "127.0.0.1:3000",
            "owner": owner.pk,
        },
    )
    site = owner.sites.get()
    assert site.upstream == "127.0.0.1:3000"


def test_owner_cannot_pick_another_owner(owner_client, owner, outsider):
    owner_client.post(
        "/sites/new/", {"domain": "c.example", "runtime": "static", "owner": outsider.pk}
    )
    assert owner.sites.get().domain == "c.example"
    assert not outsider.sites.exists()


@pytest.mark.parametrize("typed", ["bücher.id", "XN--BCHER-KVA.ID"])
def test_delete_with_either_spelling_queues_job(owner_client, site, typed):
    response = owner_client.post(f"/sites/{site.pk}/delete/", {"confirm_domain": typed})
    site.refresh_from_db()
    assert site.status == SiteStatus.DELETING
    job = site_jobs(site).get(type="site.delete")
    assert response.status_code == 302 and response.url == f"/jobs/{job.pk}/"


def test_delete_while_a_job_runs_shows_the_reason(owner_client, site, owner, make_job):
    make_job(site=site, user=owner, status=JobStatus.RUNNING)
    response = owner_client.post(
        f"/sites/{site.pk}/delete/", {"confirm_domain": "bücher.id"}, follow=True
    )
    assert "still in progress" in response.content.decode()
    site.refresh_from_db()
    assert site.status == SiteStatus.ACTIVE


def test_detail_offers_the_runtime_form_with_the_current_settings(owner_client, site):
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert f'action="/sites/{site.pk}/settings/"' in html
    assert 'value="static"' in html and 'data-show-when="runtime=proxy"' in html


def test_runtime_change_queues_job_and_keeps_the_site_as_it_is(owner_client, site):
    response = owner_client.post(
        f"/sites/{site.pk}/settings/", {"runtime": "proxy", "upstream": "127.0.0.1:3000"}
    )
    job = site_jobs(site).get(type="site.update")
    assert response.status_code == 302 and response.url == f"/jobs/{job.pk}/"
    site.refresh_from_db()
    assert (site.runtime, site.status) == ("static", SiteStatus.ACTIVE)


def test_runtime_change_errors_show_on_the_detail_page(owner_client, site):
    html = owner_client.post(
        f"/sites/{site.pk}/settings/", {"runtime": "proxy", "upstream": "nope"}
    ).content.decode()
    assert 'id="id_upstream_error"' in html and "host:port" in html
    html = owner_client.post(f"/sites/{site.pk}/settings/", {"runtime": "static"}).content
    assert "Nothing to change" in html.decode()
    assert not site_jobs(site).exists()


def test_runtime_form_waits_while_the_site_is_being_set_up(owner_client, owner):
    site = SiteFactory(created_by=owner, status=SiteStatus.PROVISIONING)
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert "/settings/" not in html
    assert "can be changed once the site is active" in html


def site_jobs(site):
    from panel.jobs.models import Job

    return Job.objects.filter(site_id=site.pk)


def test_users_see_their_quota_and_admins_none(owner_client, admin_client, site, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 3
    for path in ("/sites/", "/sites/new/"):
        assert "You use 1 of your 3 sites." in owner_client.get(path).content.decode()
        assert 'data-testid="site-quota"' not in admin_client.get(path).content.decode()


def test_the_quota_shown_follows_the_users_own_value(owner_client, owner, site, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 10
    owner.max_sites = 3
    owner.save()
    for path in ("/sites/", "/sites/new/"):
        assert "You use 1 of your 3 sites." in owner_client.get(path).content.decode()
    assert "1 site of 3 allowed." in owner_client.get("/").content.decode()


def test_admin_over_a_users_quota_must_tick_the_override(admin_client, owner, site):
    owner.max_sites = 1
    owner.save()
    data = {"domain": "lebih.example", "runtime": "static", "owner": owner.pk}
    response = admin_client.post("/sites/new/", data)
    html = response.content.decode()
    assert 'id="id_override_quota_error"' in html
    assert "overrides the user&#x27;s quota" in html
    assert 'name="override_quota"' in html
    assert owner.sites.count() == 1

    response = admin_client.post("/sites/new/", {**data, "override_quota": "on"})
    assert response.status_code == 302
    assert owner.sites.count() == 2
    from panel.audit.models import AuditLog

    assert AuditLog.objects.filter(action="site.quota_override").count() == 1


def test_the_override_box_is_not_offered_before_it_is_needed(admin_client, owner_client):
    assert 'name="override_quota"' not in admin_client.get("/sites/new/").content.decode()
    assert 'name="override_quota"' not in owner_client.get("/sites/new/").content.decode()


def test_admin_suspends_from_the_site_page_and_the_owner_reads_why(
    admin_client, owner_client, site
):
    from django.utils import timezone

    html = admin_client.get(f"/sites/{site.pk}/").content.decode()
    assert f'action="/sites/{site.pk}/suspension/"' in html
    assert (
        f'action="/sites/{site.pk}/suspension/"'
        not in owner_client.get(f"/sites/{site.pk}/").content.decode()
    )

    response = admin_client.post(f"/sites/{site.pk}/suspension/", {"action": "suspend"})
    assert response.status_code == 400 and 'id="id_reason_error"' in response.content.decode()
    response = admin_client.post(
        f"/sites/{site.pk}/suspension/", {"action": "suspend", "reason": "Invoice unpaid"}
    )
    job = site_jobs(site).get(type="site.suspend")
    assert response.status_code == 302 and response.url == f"/jobs/{job.pk}/"

    # What the worker does on success (tested against nginx in tests/sites): the page shows it.
    job.status = "success"
    job.save()
    site.suspended_at = timezone.now()
    site.save()
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'data-testid="site-suspended"' in html and "Invoice unpaid" in html
    assert "Contact your administrator" in html
    assert "Suspended" in owner_client.get("/sites/").content.decode()
    html = admin_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'name="action" value="resume"' in html


def test_owner_of_a_suspended_site_sees_why_it_cannot_be_deleted(admin_client, owner_client, site):
    from django.utils import timezone

    site.suspended_at = timezone.now()
    site.save()
    reason = "An administrator suspended this site; only an administrator can delete it."
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert f'action="/sites/{site.pk}/delete/"' not in html
    assert 'data-testid="delete-suspended"' in html and reason in html

    # A hand-made POST is refused with the same reason, and nothing is queued.
    response = owner_client.post(
        f"/sites/{site.pk}/delete/", {"confirm_domain": site.domain}, follow=True
    )
    assert reason in response.content.decode()
    assert not site_jobs(site).filter(type="site.delete").exists()

    html = admin_client.get(f"/sites/{site.pk}/").content.decode()
    assert f'action="/sites/{site.pk}/delete/"' in html
    response = admin_client.post(f"/sites/{site.pk}/delete/", {"confirm_domain": site.domain})
    assert response.status_code == 302
    assert site_jobs(site).filter(type="site.delete").exists()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/sites/new/", {"domain": "csrf.example", "runtime": "static"}),
        ("/sites/{pk}/settings/", {"runtime": "php"}),
        ("/sites/{pk}/suspension/", {"action": "suspend", "reason": "x"}),
        ("/sites/{pk}/certificate/", {}),
        ("/sites/{pk}/certificate/upload/", {"chain_pem": "x", "key_pem": "y"}),
        ("/sites/{pk}/delete/", {"confirm_domain": "bücher.id"}),
    ],
)
def test_every_site_change_needs_the_csrf_token(csrf_client, admin_user, site, path, data):
    from panel.jobs.models import Job

    csrf_client.force_login(admin_user)
    response = csrf_client.post(path.format(pk=site.pk), data)
    assert response.status_code == 403
    site.refresh_from_db()
    assert site.status == SiteStatus.ACTIVE and site.runtime == "static"
    assert not Job.objects.exists()
    assert not site.certificates.exists()


def test_admins_see_the_live_and_the_refused_vhost_escaped_users_neither(
    admin_client, owner_client, site, settings, tmp_path
):
    settings.NUSANTARA_NGINX_CONF_DIR = tmp_path
    html = admin_client.get(f"/sites/{site.pk}/").content.decode()
    assert "nginx has no virtual host for this site." in html
    (tmp_path / f"{site.domain}.conf").write_text("server { server_name <b>x</b>; }\n")
    (tmp_path / f"{site.domain}.conf.err").write_text("server { broken\n")
    html = admin_client.get(f"/sites/{site.pk}/").content.decode()
    assert "server { server_name &lt;b&gt;x&lt;/b&gt;; }" in html
    assert 'data-testid="vhost-rejected"><code>server { broken' in html
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'data-testid="vhost' not in html and "server_name" not in html
