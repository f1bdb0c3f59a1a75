"""Browser uploads end to end: the web stages, the real worker installs as the site user, the
real nginx serves the result; every hostile archive fails its job and leaves public/ as it was."""

from __future__ import annotations

import os
import pwd
import stat

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from panel.jobs.models import Job
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create
from panel.tenancy import homes, uploads
from tests.tenancy import zips


def _last_job(site: Site) -> Job:
    return Job.objects.filter(site_id=site.pk).order_by("-created_at").first()


def _active(worker, owner, domain: str) -> Site:
    site = site_create(user=owner, domain=domain, runtime="static")
    job = worker.wait_for_job(_last_job(site))
    assert job.status == "success", job.error_message
    site.refresh_from_db()
    assert site.status == SiteStatus.ACTIVE
    return site


def _post(client, site, files, subdir="", unpack=True):
    data = {"files": [SimpleUploadedFile(name, body) for name, body in files], "subdir": subdir}
    if unpack:
        data["unpack"] = "on"
    return client.post(f"/sites/{site.pk}/files/", data)


def _upload(client, worker, site, files, **kw) -> Job:
    response = _post(client, site, files, **kw)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = _last_job(site)
    assert job.type == "site.upload" and response["Location"] == f"/jobs/{job.pk}/"
    return worker.wait_for_job(job)


def _tree(root) -> dict[str, tuple[int, int, int, bytes | None]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = open(path, "rb").read() if stat.S_ISREG(st.st_mode) else None  # noqa: SIM115
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_gid, data)
    return out


def test_a_zip_is_unpacked_as_the_site_user_and_served(worker, nginx, owner, owner_client):
    site = _active(worker, owner, "zip.upload.example")
    job = _upload(owner_client, worker, site, [("site.zip", zips.site())])
    assert job.status == "success", job.error_message
    assert "2 files installed" in " ".join(line["msg"] for line in job.log)
    assert nginx.wait_for(site.domain, text="<h1>unpacked</h1>").status == 200
    assert nginx.wait_for(site.domain, "/css/site.css", text="color: teal").status == 200
    public = homes.public_path(site.domain)
    if homes.isolated(site):
        uid = pwd.getpwnam(site.system_user).pw_uid
        for path in (public / "index.html", public / "css", public / "css" / "site.css"):
            assert path.lstat().st_uid == uid, path
    assert not uploads.staged_dir(job.pk).exists()  # the staged upload is gone
    assert os.listdir(homes.home_path(site.domain) / "tmp") == []


def test_plain_files_go_into_a_subdirectory(worker, nginx, owner, owner_client):
    site = _active(worker, owner, "files.upload.example")
    archive = zips.site()
    files = [("a.txt", b"first file"), ("site.zip", archive)]
    job = _upload(owner_client, worker, site, files, subdir="docs/v1")
    assert job.status == "success", job.error_message
    assert nginx.wait_for(site.domain, "/docs/v1/a.txt", text="first file").status == 200
    # Beside another file, a .zip is installed as it is, not unpacked.
    assert (homes.public_path(site.domain) / "docs" / "v1" / "site.zip").read_bytes() == archive
    assert not uploads.staged_dir(job.pk).exists()


HOSTILE = {
    "traversal": (zips.slip, "points outside the folder"),
    "symlink": (zips.symlink, "is a symbolic link"),
    "device": (zips.device, "is a device or pipe"),
    "bomb": (zips.bomb, "compressed suspiciously well"),
    "lying": (zips.lying, "damaged"),
    "too many": (lambda: zips.too_many(10_001), "at most 10000 are allowed"),
}


def test_hostile_archives_fail_their_job_and_change_nothing(worker, nginx, owner, owner_client):
    site = _active(worker, owner, "hostile.upload.example")
    public = homes.public_path(site.domain)
    before = _tree(homes.home_path(site.domain))
    for kind, (make, message) in HOSTILE.items():
        job = _upload(owner_client, worker, site, [(f"{kind}.zip", make())])
        assert job.status == "failed", kind
        assert message in job.error_message, (kind, job.error_message)
        assert _tree(homes.home_path(site.domain)) == before, kind
        assert not uploads.staged_dir(job.pk).exists(), kind
    assert not (public.parent / "escaped.txt").exists()
    assert nginx.get(site.domain).status == 200  # still the default page


def test_a_planted_symlink_in_public_is_not_followed(worker, nginx, owner, owner_client, tmp_path):
    site = _active(worker, owner, "planted.upload.example")
    public = homes.public_path(site.domain)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, public / "css")  # as the customer could over SFTP
    job = _upload(owner_client, worker, site, [("site.zip", zips.site())])
    assert job.status == "failed"
    assert "symbolic link" in job.error_message
    assert os.listdir(outside) == []


@pytest.fixture
def data_dir(settings, tmp_path):
    """Without the worker's fixtures the data dir would be the checkout's var/."""
    settings.NUSANTARA_DATA_DIR = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_over_size_is_refused_at_the_form(owner_client, owner, settings, data_dir):
    from tests.factories import SiteFactory

    site = SiteFactory(created_by=owner, status=SiteStatus.ACTIVE)
    settings.NUSANTARA_UPLOAD_MAX_SIZE = 1000
    response = _post(owner_client, site, [("big.bin", b"x" * 5000)])
    assert response.status_code == 400
    assert "at most 1000 B are allowed" in response.content.decode()
    # Far over the limit: refused from the Content-Length, before the body is read.
    response = _post(owner_client, site, [("huge.bin", b"x" * (2 * 1024 * 1024))])
    assert response.status_code == 413
    assert not Job.objects.filter(site_id=site.pk).exists()
    assert not (data_dir / "uploads").exists() or not any((data_dir / "uploads").iterdir())


@pytest.mark.django_db
@pytest.mark.parametrize("subdir", ["../up", "a/../b", "a\\b", "é", "a b", ".", "x/.."])
def test_bad_folders_are_refused_at_the_form(owner_client, owner, subdir, data_dir):
    from tests.factories import SiteFactory

    site = SiteFactory(created_by=owner, status=SiteStatus.ACTIVE)
    response = _post(owner_client, site, [("a.txt", b"x")], subdir=subdir)
    assert response.status_code == 400
    assert "Give a folder inside your site" in response.content.decode()
    assert not Job.objects.filter(site_id=site.pk).exists()


@pytest.mark.django_db
def test_outsider_anonymous_and_get(client, outsider_client, owner_client, owner, data_dir):
    from tests.factories import SiteFactory

    site = SiteFactory(created_by=owner, status=SiteStatus.ACTIVE)
    url = f"/sites/{site.pk}/files/"
    assert _post(outsider_client, site, [("a.txt", b"x")]).status_code == 404
    response = _post(client, site, [("a.txt", b"x")])
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert owner_client.get(url).status_code == 405
    assert not Job.objects.filter(site_id=site.pk).exists()


@pytest.mark.django_db
def test_the_upload_needs_the_csrf_token(csrf_client, owner, data_dir):
    from tests.factories import SiteFactory

    site = SiteFactory(created_by=owner, status=SiteStatus.ACTIVE)
    csrf_client.force_login(owner)
    response = _post(csrf_client, site, [("a.txt", b"x")])
    assert response.status_code == 403
    assert not Job.objects.filter(site_id=site.pk).exists()


def test_with_isolation_off_the_worker_installs_it_itself(settings, worker_off, nginx, owner):
    from django.test import Client

    client = Client()
    client.force_login(owner)
    site = _active(worker_off, owner, "dev.upload.example")
    assert not homes.isolated(site)
    job = _upload(client, worker_off, site, [("site.zip", zips.site())])
    assert job.status == "success", job.error_message
    assert "as the panel's user" in " ".join(line["msg"] for line in job.log)
    assert nginx.wait_for(site.domain, "/css/site.css", text="color: teal").status == 200
    before = _tree(homes.home_path(site.domain))
    job = _upload(client, worker_off, site, [("slip.zip", zips.slip())])
    assert job.status == "failed" and "points outside the folder" in job.error_message
    assert _tree(homes.home_path(site.domain)) == before


@pytest.fixture
def _isolation_off(settings):
    settings.NUSANTARA_ISOLATION = "off"


@pytest.fixture
def worker_off(_isolation_off, worker):
    """A worker started with isolation off (the setting comes first: the worker takes it)."""
    return worker
