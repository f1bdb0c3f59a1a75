"""SFTP end to end: sites made by `site_create` and provisioned by the real worker (isolation
on, the real root helper), keys and passwords set on the panel and applied by the worker through
the helper, used by paramiko against a real sshd running the shipped Match block, and the
uploaded file served by the real nginx."""

from __future__ import annotations

import grp
import io
import pwd
import subprocess
import time

import paramiko
import pytest

from panel.jobs.models import Job
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create
from panel.tenancy.helper import HOME_MARKER
from panel.tenancy.sftp import sftp_key_add, sftp_key_remove, sftp_password_set

from .keygen import ed25519_pair

PASSWORD = "kopi-tubruk-Jakarta-2025"


@pytest.fixture
def make_site(owner, sshd, nginx, worker):
    """A site made as a customer makes it: `site_create` and the real worker's provisioning
    (isolation on: the helper creates the user, the chroot-ready home and the default page, and
    the site is proven before `active`)."""
    made: list[Site] = []

    def make(domain: str) -> Site:
        site = site_create(user=owner, domain=domain, runtime="static")
        _done(worker, Job.objects.get(site_id=site.pk, type="site.provision"))
        site.refresh_from_db()
        assert site.status == SiteStatus.ACTIVE
        assert site.root_path == str(sshd.web_root / domain / "public")
        assert sshd.group in [g.gr_name for g in grp.getgrall() if site.system_user in g.gr_mem]
        made.append(site)
        return site

    yield make
    # The worker fixture removes the users, homes and vhosts; the key files are this test's.
    for site in made:
        (sshd.keys_dir / site.system_user).unlink(missing_ok=True)


def _connect(sshd, user: str, *, pkey=None, password=None) -> paramiko.SFTPClient:
    transport = paramiko.Transport(("127.0.0.1", sshd.port))
    transport.connect(username=user, pkey=pkey, password=password)
    return paramiko.SFTPClient.from_transport(transport)


def _refused(sshd, user: str, **auth) -> bool:
    try:
        _connect(sshd, user, **auth).close()
    except paramiko.AuthenticationException:
        return True
    return False


def _done(worker, job) -> None:
    job = worker.wait_for_job(job)
    assert job.status == "success", (job.error_message, job.log[-3:])


def _keys_job(site):
    return Job.objects.filter(site_id=site.pk, type="sftp.keys").order_by("-created_at").first()


def test_a_key_uploads_into_public_and_nginx_serves_it(sshd, nginx, worker, owner, make_site):
    site = make_site("sftp-upload.example")
    pkey, line = ed25519_pair()
    sftp_key_add(user=owner, site=site, public_key=line)
    _done(worker, _keys_job(site))
    keys_file = sshd.keys_dir / site.system_user
    st = keys_file.stat()
    # root:<site user> 0640 in a 0711 dir: sshd reads it as the site user (the login below);
    # another account (another site's PHP) can neither read the keys nor list the site users.
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (
        0,
        pwd.getpwnam(site.system_user).pw_gid,
        0o640,
    )
    assert sshd.keys_dir.stat().st_mode & 0o777 == 0o711
    for peek in (["cat", str(keys_file)], ["ls", str(sshd.keys_dir)]):
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *peek]
        denied = subprocess.run(as_nobody, capture_output=True, text=True)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, peek
    sftp = _connect(sshd, site.system_user, pkey=pkey)
    try:
        assert sftp.normalize(".") == "/public"
        sftp.putfo(io.BytesIO(b"<h1>uploaded over sftp</h1>"), "index.html")
        # The jail: its root holds the site's own three dirs and the helper's root-owned home
        # marker (which the customer can neither change nor remove), and .. stays inside it.
        jail = [HOME_MARKER, "logs", "public", "tmp"]
        assert sorted(sftp.listdir("/")) == jail
        assert sorted(sftp.listdir("/../..")) == jail
        for tamper in (
            lambda: sftp.remove(f"/{HOME_MARKER}"),
            lambda: sftp.putfo(io.BytesIO(b"x"), f"/{HOME_MARKER}"),
            lambda: sftp.mkdir("/extra"),
        ):
            with pytest.raises(PermissionError):
                tamper()
        with pytest.raises(IOError):
            sftp.listdir(str(sshd.web_root))
    finally:
        sftp.close()
    assert "uploaded over sftp" in nginx.wait_for(site.domain, text="uploaded over sftp").body
    assert "Changed root directory" in sshd.log_tail()


def test_a_removed_key_no_longer_logs_in(sshd, nginx, worker, owner, make_site):
    site = make_site("sftp-remove.example")
    pkey, line = ed25519_pair()
    key = sftp_key_add(user=owner, site=site, public_key=line)
    _done(worker, _keys_job(site))
    _connect(sshd, site.system_user, pkey=pkey).close()
    _done(worker, sftp_key_remove(user=owner, site=site, key=key))
    assert not (sshd.keys_dir / site.system_user).exists()  # the last key: no file at all
    assert _refused(sshd, site.system_user, pkey=pkey)


def test_a_key_of_site_a_does_not_open_site_b(sshd, nginx, worker, owner, make_site):
    site_a, site_b = make_site("sftp-a.example"), make_site("sftp-b.example")
    pkey_a, line_a = ed25519_pair()
    _pkey_b, line_b = ed25519_pair()
    sftp_key_add(user=owner, site=site_a, public_key=line_a)
    _done(worker, _keys_job(site_a))
    sftp_key_add(user=owner, site=site_b, public_key=line_b)
    _done(worker, _keys_job(site_b))
    _connect(sshd, site_a.system_user, pkey=pkey_a).close()
    assert _refused(sshd, site_b.system_user, pkey=pkey_a)


def test_a_password_logs_in_when_set_and_not_after_it_is_removed(
    sshd, nginx, worker, owner, make_site
):
    from panel.audit.models import AuditLog

    site = make_site("sftp-password.example")
    assert _refused(sshd, site.system_user, password=PASSWORD)
    job = sftp_password_set(user=owner, site=site, password=PASSWORD)
    assert PASSWORD not in str(job.payload)  # encrypted while it waits
    job = worker.wait_for_job(job)
    assert job.status == "success", job.error_message
    assert "secret" not in job.payload  # and gone once applied
    assert PASSWORD not in str(job.log)
    sftp = _connect(sshd, site.system_user, password=PASSWORD)
    assert sftp.normalize(".") == "/public"
    sftp.close()
    _done(worker, sftp_password_set(user=owner, site=site, password=""))
    time.sleep(0.1)
    assert _refused(sshd, site.system_user, password=PASSWORD)
    entries = AuditLog.objects.filter(target_id=str(site.pk), action__startswith="sftp.password")
    assert [e.action for e in entries.order_by("created_at")] == [
        "sftp.password_set",
        "sftp.password_clear",
    ]
    assert PASSWORD not in str([e.metadata for e in entries])
