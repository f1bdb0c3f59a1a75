"""The dashboard's service health, measured for real: nginx (a TCP connect to its listener),
php-fpm (a connect to its socket), the worker (its heartbeat) and the scheduler (django-q2's
schedules on time); and no false "renewal has not run" on a fresh install."""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

from panel.web import health
from tests.services.nginx import start_nginx, stop_nginx
from tests.services.worker import worker_env

pytestmark = pytest.mark.django_db


def _services(client) -> dict[str, tuple[str, str]]:
    """{service: (state badge, reason)} as the admin's dashboard shows them."""
    html = client.get("/").content.decode()
    block = html.split('data-testid="services"', 1)[1].split("</dl>", 1)[0]
    row = r"<dt>([^<]+)</dt>\s*<dd[^>]*>.*?badge-(\w+)\">[^<]*</span> <span[^>]*>([^<]*)</span>"
    rows = re.findall(row, block, re.S)
    return {name: (badge, reason) for name, badge, reason in rows}


@pytest.fixture(autouse=True)
def _fresh_probes():
    cache.delete(health.PROBE_CACHE_KEY)
    yield
    cache.delete(health.PROBE_CACHE_KEY)


def test_only_admins_see_services(owner_client):
    assert 'data-testid="services"' not in owner_client.get("/").content.decode()


def test_nginx_up_then_stopped_is_down_once_the_measurement_is_due(admin_client, settings):
    base = Path(tempfile.mkdtemp(prefix="np-nginx-health-"))
    svc = start_nginx(base)
    try:
        settings.NUSANTARA_HTTP_LISTEN = f"127.0.0.1:{svc.http_port}"
        up = ("success", f"answers on 127.0.0.1:{svc.http_port}")
        assert _services(admin_client)["nginx"] == up
        stop_nginx(svc)
        # Measured at most every PROBE_TTL seconds: the page stays fast and shows the last one.
        assert _services(admin_client)["nginx"][0] == "success"
        cache.delete(health.PROBE_CACHE_KEY)  # what PROBE_TTL seconds later brings
        badge, reason = _services(admin_client)["nginx"]
        assert badge == "failed"
        assert reason == f"nothing listens on 127.0.0.1:{svc.http_port}: nginx is not running."
    finally:
        stop_nginx(svc)
        shutil.rmtree(base, ignore_errors=True)


def test_phpfpm_up_and_a_dead_socket_is_down(admin_client, settings, phpfpm, tmp_path):
    badge, reason = _services(admin_client)["php-fpm"]
    assert badge == "success" and reason.startswith("answers on "), reason
    # What a php-fpm that died leaves behind: its socket file, with nobody accepting on it.
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dead))
    settings.NUSANTARA_PHP_FPM_SOCKET = str(dead)
    settings.NUSANTARA_PHP_FPM_SOCKET_DIR = str(tmp_path / "pools")
    cache.delete(health.PROBE_CACHE_KEY)
    badge, reason = _services(admin_client)["php-fpm"]
    assert badge == "failed"
    assert reason.startswith("php-fpm is not running: its sockets refuse connections")
    assert str(dead) in reason


def test_no_phpfpm_socket_at_all_is_unknown(admin_client, settings, tmp_path):
    settings.NUSANTARA_PHP_FPM_SOCKET = str(tmp_path / "none.sock")
    settings.NUSANTARA_PHP_FPM_SOCKET_DIR = str(tmp_path)
    assert _services(admin_client)["php-fpm"][0] == "unknown"


def test_worker_running_is_ok_and_stopped_is_down(
    worker_manager, nginx, phpfpm, transactional_db, admin_client, settings
):
    settings.NUSANTARA_HEARTBEAT_MAX_AGE = 3
    assert _services(admin_client)["worker"][0] == "unknown"  # nobody has reported yet
    worker = worker_manager.ensure(worker_env())  # a fresh worker: it beats when it spawns
    try:
        deadline = time.monotonic() + 30
        while _services(admin_client)["worker"][0] != "success":
            assert worker.alive and time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.2)
    finally:
        worker_manager.stop()
    # A worker process spawned while the cluster shuts down may still beat at the very end of
    # stop() (seen under load); ages are whole seconds, so wait until even that beat is > 3 s old.
    time.sleep(4.5)
    badge, reason = _services(admin_client)["worker"]
    assert badge == "failed"
    assert re.fullmatch(
        r"last heartbeat \d+ s ago \(more than 3 s\): the worker is not running\.", reason
    ), reason


def test_scheduler_on_time_is_ok_and_overdue_is_down(admin_client):
    from django_q.models import Schedule

    Schedule.objects.update(next_run=timezone.now() + timedelta(minutes=1))
    assert _services(admin_client)["scheduler"][0] == "success"
    # What a stopped scheduler leaves: the every-minute heartbeat schedule falls behind.
    Schedule.objects.filter(name="ops.heartbeat").update(
        next_run=timezone.now() - timedelta(minutes=12)
    )
    badge, reason = _services(admin_client)["scheduler"]
    assert badge == "failed"
    assert reason.startswith("schedule ops.heartbeat is 12 minutes overdue"), reason


def test_fresh_install_shows_the_first_renewal_run_not_a_warning(admin_client):
    from django_q.models import Schedule

    from panel.certificates.services import RENEWAL_SCHEDULE

    warning = "Certificate renewal has not run in the last day."
    first = timezone.now() + timedelta(minutes=1)
    Schedule.objects.filter(name=RENEWAL_SCHEDULE).update(task=None, next_run=first)
    html = admin_client.get("/").content.decode()
    assert warning not in html
    assert "not yet: first run at" in html
    # Once the schedule has fired, a missing run is a real problem again.
    Schedule.objects.filter(name=RENEWAL_SCHEDULE).update(task="some-task-id")
    html = admin_client.get("/").content.decode()
    assert warning in html and "first run at" not in html
