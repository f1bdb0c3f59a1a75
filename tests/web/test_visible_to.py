"""`Model.objects.visible_to(user)`: the one answer to "may this user see this" that views,
selectors, exports and the dashboard use. Admins see everything, owners their own, anyone else
nothing (and so a 404)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from panel.audit.models import AuditLog
from panel.audit.services import audit_record
from panel.certificates.models import SslCertificate
from panel.databases.models import Database
from panel.jobs.models import Job
from panel.sites.models import Site
from panel.tenancy.models import SiteSshKey
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(owner, outsider, admin_user, make_cert, make_job):
    mine = SiteFactory(created_by=owner, domain="mine.example.com")
    theirs = SiteFactory(created_by=outsider, domain="theirs.example.com")
    for site in (mine, theirs):
        make_cert(site=site)
        Database.objects.create(site=site, name=f"{site.domain}_db", db_user=f"{site.domain}_u")
        SiteSshKey.objects.create(site=site, public_key="k", fingerprint=f"SHA256:{site.domain}")
    return {
        "mine": mine,
        "theirs": theirs,
        # an admin's job on the owner's site is the owner's to see; a job the owner asked for
        # (on no site) too; a system job on nobody's site is not
        "jobs": {
            "admin_on_mine": make_job(site=mine, user=admin_user),
            "own_siteless": make_job(user=owner),
            "theirs": make_job(site=theirs, user=outsider),
            "system": make_job(),
        },
    }


def test_owner_sees_only_their_own(owner, rows):
    assert list(Site.objects.visible_to(owner)) == [rows["mine"]]
    assert {c.site for c in SslCertificate.objects.visible_to(owner)} == {rows["mine"]}
    assert {d.site for d in Database.objects.visible_to(owner)} == {rows["mine"]}
    assert {k.site for k in SiteSshKey.objects.visible_to(owner)} == {rows["mine"]}
    jobs = rows["jobs"]
    assert set(Job.objects.visible_to(owner)) == {jobs["admin_on_mine"], jobs["own_siteless"]}


def test_admin_sees_everything(admin_user, rows):
    assert Site.objects.visible_to(admin_user).count() == 2
    assert SslCertificate.objects.visible_to(admin_user).count() == 2
    assert Database.objects.visible_to(admin_user).count() == 2
    assert Job.objects.visible_to(admin_user).count() == 4


def test_a_deactivated_admin_sees_only_their_own(admin_user, rows):
    admin_user.is_active = False
    admin_user.save()
    assert Site.objects.visible_to(admin_user).count() == 0
    # only the job they asked for themselves
    assert list(Job.objects.visible_to(admin_user)) == [rows["jobs"]["admin_on_mine"]]


def test_anonymous_sees_nothing(rows):
    anonymous = AnonymousUser()
    for model in (Site, SslCertificate, Database, SiteSshKey, Job, AuditLog):
        assert not model.objects.visible_to(anonymous).exists(), model


def test_the_audit_log_is_for_admins_only(owner, admin_user, rows):
    audit_record(actor=owner, action="site.create", target=rows["mine"])
    assert not AuditLog.objects.visible_to(owner).exists()
    assert AuditLog.objects.visible_to(admin_user).count() == 1
