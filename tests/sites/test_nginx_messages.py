"""What the panel says when nginx fails, against the real nginx: not installed, not running,
could not reload, refused a file at a line. Each in words a person can act on, nginx's text kept."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from panel.jobs.models import Job
from panel.sites import nginx as ngx
from panel.sites.models import Runtime, Site, SiteStatus
from panel.sites.services import site_create
from tests.services.nginx import start_nginx, stop_nginx
from tests.services.worker import worker_env


def _site(domain: str) -> Site:
    from django.conf import settings

    return Site(
        domain=domain,
        runtime=Runtime.STATIC,
        root_path=str(settings.NUSANTARA_WEB_ROOT / domain),
    )


@pytest.fixture
def stopped_nginx(nginx):
    """A private nginx of our own, started and stopped again: its config passes `nginx -t`,
    but there is no master process to reload (its pid file is gone, as after `nginx -s stop`;
    the `nginx -t` before a reload leaves an empty one)."""
    base = Path(tempfile.mkdtemp(prefix="np-nginx-stopped-"))
    base.chmod(0o755)
    svc = start_nginx(base)
    stop_nginx(svc)
    assert not (base / "nginx.pid").exists()
    yield {
        "NUSANTARA_NGINX_CONF_DIR": svc.conf_dir,
        "NUSANTARA_NGINX_TEST_CMD": svc.test_cmd,
        "NUSANTARA_NGINX_RELOAD_CMD": f"nginx -s reload -p {base} -c {base}/nginx.conf",
    }
    shutil.rmtree(base, ignore_errors=True)


def test_provisioning_with_nginx_stopped_says_nginx_is_not_running(
    worker_manager, nginx, phpfpm, transactional_db, owner, stopped_nginx
):
    from tests.services.tenancy import reset_tenancy

    worker = worker_manager.ensure(worker_env(**stopped_nginx))
    try:
        site = site_create(user=owner, domain="stopped.msg.example", runtime="static")
        job = worker.wait_for_job(Job.objects.get(site_id=site.pk, type="site.provision"))
        assert job.status == "failed"
        assert job.error_message.startswith("nginx is not running"), job.error_message
        assert "Start nginx" in job.error_message
        # nginx's own words stay as the detail (`nginx -t` leaves an empty pid file behind).
        assert 'invalid PID number "" in' in job.error_message and "nginx.pid" in job.error_message
        assert "signal process started" not in job.error_message
        site.refresh_from_db()
        assert site.status == SiteStatus.FAILED
        # Undone: nothing of the site is left in the (stopped) nginx's vhost directory.
        assert not (stopped_nginx["NUSANTARA_NGINX_CONF_DIR"] / f"{site.domain}.conf").exists()
    finally:
        worker_manager.stop()  # the next test's worker gets the suite's nginx back
        reset_tenancy()


def test_stale_pid_file_also_means_not_running(nginx, stopped_nginx, settings, tmp_path):
    for name, value in stopped_nginx.items():
        setattr(settings, name, value)
    pid_dir = Path(settings.NUSANTARA_NGINX_TEST_CMD.split("-p ")[1].split()[0])
    # A pid that no process has (above the kernel's pid_max): what a crashed master leaves.
    (pid_dir / "nginx.pid").write_text("4194999\n")
    site = _site("stale-pid.msg.example")
    ngx.ensure_docroot(site)
    with pytest.raises(ngx.NginxError) as info:
        ngx.sync_site(site)
    message = str(info.value)
    assert message.startswith("nginx is not running"), message
    assert "No such process" in message
    assert not ngx.conf_path(site.domain).exists()


def test_reload_failing_for_another_reason_says_so_with_nginx_text(nginx, settings):
    # nginx is up and accepts the config, but the reload command fails (here: kill refuses a
    # malformed process id): neither "not installed" nor "not running".
    settings.NUSANTARA_NGINX_RELOAD_CMD = "kill -HUP -- -0x"
    site = _site("reload-fails.msg.example")
    ngx.ensure_docroot(site)
    with pytest.raises(ngx.NginxError) as info:
        ngx.sync_site(site)
    message = str(info.value)
    assert message.startswith("nginx could not reload, so the change was undone"), message
    assert not ngx.conf_path(site.domain).exists()
    assert nginx.get(site.domain).status == 404


def test_missing_binary_says_nginx_is_not_installed(nginx, settings):
    settings.NUSANTARA_NGINX_TEST_CMD = "/nonexistent/sbin/nginx -t"
    site = _site("not-installed.msg.example")
    ngx.ensure_docroot(site)
    with pytest.raises(ngx.NginxError) as info:
        ngx.sync_site(site)
    message = str(info.value)
    assert message.startswith("nginx is not installed"), message
    assert "/nonexistent/sbin/nginx" in message and "NUSANTARA_NGINX_TEST_CMD" in message
    assert not ngx.conf_path(site.domain).exists()


def test_missing_reload_program_says_nginx_is_not_installed(nginx, settings):
    settings.NUSANTARA_NGINX_RELOAD_CMD = "/nonexistent/sbin/nginx -s reload"
    site = _site("no-reload.msg.example")
    ngx.ensure_docroot(site)
    with pytest.raises(ngx.NginxError, match="^nginx is not installed.*NUSANTARA_NGINX_RELOAD_CMD"):
        ngx.sync_site(site)
    assert not ngx.conf_path(site.domain).exists()


def test_refused_vhost_names_the_file_and_line(nginx):
    domain = "refused-line.msg.example"
    vhost = (
        "server {\n"
        f"    listen 127.0.0.1:{nginx.http_port};\n"
        f"    server_name {domain};\n"
        "    no_such_directive on;\n"
        "}\n"
    )
    result = ngx.apply({domain: vhost})
    message = result.rejected[domain]
    path = ngx.conf_path(domain)
    assert message.startswith(f"nginx refused the configuration in {path}, line 4;"), message
    assert 'unknown directive "no_such_directive"' in message  # nginx's own words
    assert not path.exists() and ngx.rejected_path(domain).exists()
    ngx.rejected_path(domain).unlink()


def test_already_broken_names_the_file_and_line(nginx):
    hand_edit = nginx.conf_dir / "hand-edited-msg.conf"
    hand_edit.write_text("server {\n    listen 127.0.0.1:1;\n    what_is_this;\n}\n")
    try:
        with pytest.raises(ngx.NginxError) as info:
            ngx.sync_site(_site("innocent.msg.example"))
        assert f"already broken in {hand_edit}, line 3" in str(info.value)
    finally:
        hand_edit.unlink()
