"""Jobs pages: list, detail with live status, retry (admins)."""

from __future__ import annotations

import uuid

import pytest

from panel.jobs.models import Job, JobStatus
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_anonymous_is_sent_to_login(client, job):
    for path in ("/jobs/", f"/jobs/{job.pk}/", f"/jobs/{job.pk}/retry/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.url.startswith("/accounts/login/"), path


def test_outsider_gets_404(outsider_client, job):
    assert outsider_client.get(f"/jobs/{job.pk}/").status_code == 404
    assert outsider_client.get(f"/jobs/{uuid.uuid4()}/").status_code == 404


def test_user_sees_jobs_they_created_and_jobs_on_their_sites(
    owner_client, owner, site, admin_user, outsider, make_job
):
    mine = make_job(site=None, user=owner, type="account.thing")
    by_admin = make_job(site=site, user=admin_user, type="ssl.renew")
    other = make_job(site=SiteFactory(created_by=outsider), user=outsider, type="site.delete")
    html = owner_client.get("/jobs/").content.decode()
    assert f"/jobs/{mine.pk}/" in html
    assert f"/jobs/{by_admin.pk}/" in html
    assert f"/jobs/{other.pk}/" not in html
    assert owner_client.get(f"/jobs/{by_admin.pk}/").status_code == 200
    assert owner_client.get(f"/jobs/{other.pk}/").status_code == 404


def test_list_links_the_site_and_marks_deleted_sites(owner_client, owner, site, make_job):
    make_job(site=site, user=owner)
    gone = Job.objects.create(
        type="site.delete", status=JobStatus.SUCCESS, site_id=uuid.uuid4(), created_by=owner
    )
    html = owner_client.get("/jobs/").content.decode()
    assert f'href="/sites/{site.pk}/">bücher.id' in html
    assert f"/jobs/{gone.pk}/" in html and "(deleted)" in html


def test_status_filter(owner_client, owner, make_job):
    failed = make_job(user=owner, status=JobStatus.FAILED, type="x.failed")
    ok = make_job(user=owner, status=JobStatus.SUCCESS, type="x.ok")
    html = owner_client.get("/jobs/", {"status": "failed"}).content.decode()
    assert f"/jobs/{failed.pk}/" in html and f"/jobs/{ok.pk}/" not in html


def test_detail_shows_payload_timings_error_and_log(owner_client, owner, site, make_job):
    job = make_job(
        site=site,
        user=owner,
        status=JobStatus.FAILED,
        error_message="nginx: [emerg] unknown directive",
        log=[{"at": "2026-01-02T03:04:05.000+00:00", "msg": "writing vhost"}],
    )
    html = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "nginx: [emerg] unknown directive" in html
    assert "writing vhost" in html
    # 03:04:05 UTC is 10:04:05 in Asia/Jakarta
    assert "10:04:05" in html
    assert "&quot;domain&quot;: &quot;xn--bcher-kva.id&quot;" in html
    assert "Retry job" not in html  # only admins retry


def test_detail_polls_only_while_active_and_fragment_has_no_layout(owner_client, owner, make_job):
    job = make_job(user=owner, status=JobStatus.RUNNING)
    assert 'hx-trigger="every 2s"' in owner_client.get(f"/jobs/{job.pk}/").content.decode()
    fragment = owner_client.get(f"/jobs/{job.pk}/", **HTMX)
    body = fragment.content.decode()
    assert 'id="job-live"' in body and "<html" not in body
    assert 'hx-trigger="every 2s"' in body
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCESS)
    body = owner_client.get(f"/jobs/{job.pk}/", **HTMX).content.decode()
    assert "hx-trigger" not in body and "Success" in body


def test_retry_get_is_405(admin_client, job):
    assert admin_client.get(f"/jobs/{job.pk}/retry/").status_code == 405


def test_retry_by_owner_is_404(owner_client, owner, make_job):
    job = make_job(user=owner, status=JobStatus.FAILED)
    assert owner_client.post(f"/jobs/{job.pk}/retry/").status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_admin_retries_failed_job(admin_client, owner, site, make_job):
    job = make_job(site=site, user=owner, status=JobStatus.FAILED, error_message="boom")
    assert "Retry job" in admin_client.get(f"/jobs/{job.pk}/").content.decode()
    response = admin_client.post(f"/jobs/{job.pk}/retry/", follow=True)
    assert response.redirect_chain[-1][0] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.error_message is None
    assert "queued again" in response.content.decode()


def test_retry_of_a_successful_job_shows_the_reason(admin_client, job):
    response = admin_client.post(f"/jobs/{job.pk}/retry/", follow=True)
    assert "Only a failed job can be retried." in response.content.decode()


def test_list_refreshes_itself_while_a_job_is_active(owner_client, owner, make_job):
    job = make_job(user=owner, status=JobStatus.QUEUED)
    html = owner_client.get("/jobs/?status=queued").content.decode()
    assert 'hx-get="/jobs/?status=queued" hx-trigger="every 2s"' in html
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCESS)
    body = owner_client.get("/jobs/", **HTMX).content.decode()
    assert 'id="job-list-live"' in body and "<html" not in body and "hx-trigger" not in body


def test_expired_session_during_polling_redirects_the_whole_page(client, job):
    response = client.get(
        f"/jobs/{job.pk}/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/jobs/{job.pk}/",
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/accounts/login/?next=/jobs/{job.pk}/"


def test_a_bugs_traceback_is_for_admins_not_the_sites_owner(
    monkeypatch, owner_client, admin_client, owner, site, make_job
):
    """A handler bug (injected: no real input makes one) fails the job; the exception's text can
    hold paths or SQL, so the owner reads a plain message and only an admin sees the traceback."""
    from panel.jobs import runner

    def boom(job):
        raise RuntimeError("cannot open /etc/nusantara/secret.key")

    monkeypatch.setitem(runner.HANDLERS, "site.provision", runner.Handler(run=boom))
    job = make_job(site=site, user=owner, status=JobStatus.QUEUED)
    assert runner.run_job(str(job.pk)) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error_message.startswith("Internal error (RuntimeError)")
    assert "secret.key" not in job.error_message

    owner_html = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Internal error (RuntimeError)" in owner_html
    assert "secret.key" not in owner_html and "Traceback" not in owner_html
    admin_html = admin_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Traceback" in admin_html and "secret.key" in admin_html
