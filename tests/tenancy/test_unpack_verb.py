"""The helper's `unpack` verb, run for real as root: it opens only staged uploads under the
configured uploads dir, never through a link, and writes as the site user."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from panel.tenancy import helper
from panel.tenancy.helper import HelperError, call
from tests.tenancy import zips
from tests.tenancy.test_helper import DOMAIN, USER, cfg  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the helper's verbs need root")


@pytest.fixture
def vcfg(cfg):  # noqa: F811
    """The helper's test config with a web root the site user can reach (pytest's tmp_path
    lies below a directory only root may enter)."""
    base = Path(tempfile.mkdtemp(prefix="np-unpack-"))
    base.chmod(0o755)
    (base / "www").mkdir()
    yield helper.check_config(dict(cfg, web_root=str(base / "www"), uploads_dir=str(base / "up")))
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def home(vcfg):
    conf = vcfg
    call(conf, "user-create", [USER, DOMAIN])
    call(conf, "home-setup", [USER, DOMAIN])
    yield Path(conf["web_root"]) / DOMAIN
    call(conf, "home-remove", [USER, DOMAIN])
    call(conf, "user-delete", [USER, DOMAIN])


def _stage(conf, data: bytes) -> str:
    job = Path(conf["uploads_dir"]) / str(uuid.uuid4())
    job.mkdir(parents=True, mode=0o700)
    (job / "upload.zip").write_bytes(data)
    (job / "upload.zip").chmod(0o600)
    return str(job / "upload.zip")


def test_unpacks_as_the_site_user(vcfg, home):
    conf = vcfg
    result = json.loads(call(conf, "unpack", [USER, DOMAIN, _stage(conf, zips.site()), "blog"]))
    assert result == {"ok": True, "files": 2, "dirs": 1, "bytes": 37}
    site_css = home / "public" / "blog" / "css" / "site.css"
    uid = os.stat(home / "tmp").st_uid
    assert site_css.read_text() == "body { color: teal }"
    assert os.stat(site_css).st_uid == uid != 0
    assert os.stat(home / "public" / "blog").st_uid == uid


def test_refusals_are_reported_not_raised(vcfg, home):
    conf = vcfg
    result = json.loads(call(conf, "unpack", [USER, DOMAIN, _stage(conf, zips.slip())]))
    assert result == {"ok": False, "code": "traversal", "name": "../escaped.txt"}
    assert not (home / "escaped.txt").exists()


def test_only_staged_uploads_are_opened(vcfg, home, tmp_path):
    conf = vcfg
    elsewhere = tmp_path / "other" / str(uuid.uuid4())
    elsewhere.mkdir(parents=True)
    (elsewhere / "upload.zip").write_bytes(zips.site())
    with pytest.raises(HelperError, match="not inside"):
        call(conf, "unpack", [USER, DOMAIN, str(elsewhere / "upload.zip")])
    link_job = Path(conf["uploads_dir"]) / str(uuid.uuid4())
    link_job.mkdir(parents=True)
    os.symlink("/etc/shadow", link_job / "upload.zip")
    with pytest.raises(HelperError, match="symbolic link"):
        call(conf, "unpack", [USER, DOMAIN, str(link_job / "upload.zip")])
    staged = _stage(conf, zips.site())
    for subdir in ("../up", "a/../../b", "/abs", "a\nb", "x" * 200):
        with pytest.raises(HelperError, match="refused"):
            call(conf, "unpack", [USER, DOMAIN, staged, subdir])
    with pytest.raises(HelperError, match="takes 3 argument"):
        call(conf, "unpack", [USER, DOMAIN, staged, "a", "b"])
    assert os.listdir(home / "public") == []
