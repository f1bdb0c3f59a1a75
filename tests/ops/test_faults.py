"""Fault tests: PostgreSQL restarted during a provisioning burst, Redis restarted while jobs are
queued, the worker killed mid-burst. Afterwards every job is `success` or `failed` with a reason,
none is lost or stuck, every `active` site is served by nginx, and the panel still works.

Everything runs for real on private instances this module starts: a PostgreSQL 15 cluster, a
redis-server, nginx and `manage.py qcluster`. The only shortcut is time: the reaper
(panel.jobs.recovery.reap, a schedule that runs every minute and waits a grace period) is called
directly with its waiting periods set to zero, instead of letting the test sleep for minutes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require
from tests.services.nginx import start_nginx, stop_nginx

from .faults import Redis, SidePanel, free_port, pg_available, remove_postgres
from .faults import start_postgres as _start_postgres

pytestmark = pytest.mark.services

TEMPLATE = "np_fault_tpl"
BURST = """
import json
from panel.accounts.models import User
from panel.sites.services import site_create
admin, _ = User.objects.get_or_create(username="fault-admin", defaults={{"role": "admin"}})
ids = [
    str(site_create(user=admin, domain=f"{prefix}{{i}}.fault.test", runtime="static").pk)
    for i in range({n})
]
print(json.dumps(ids))
"""
REAP_NOW = """
import json
from datetime import timedelta
import panel.jobs.recovery as recovery
# The schedule's waiting periods, skipped: the test cannot wait minutes.
recovery.GRACE = timedelta(0)
recovery.LOST_QUEUED_AFTER = timedelta(0)
print(json.dumps(recovery.reap()))
"""


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    require(pg_available(), "PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin)")
    try:
        import panel.jobs.recovery  # noqa: F401
    except ImportError:
        pytest.fail("panel.jobs.recovery (the job reaper) is missing")
    pg = _start_postgres()
    try:
        pg.sql(f"CREATE DATABASE {TEMPLATE}")
        logs = tmp_path_factory.mktemp("fault-migrate")
        SidePanel(env=_env(pg.url(TEMPLATE), {}), logs=logs).manage("migrate", "--noinput")
        yield pg
    finally:
        remove_postgres(pg)


@pytest.fixture
def nginx_private():
    require(shutil.which("nginx") is not None, "nginx")
    base = Path(tempfile.mkdtemp(prefix="np-fault-nginx-"))
    base.chmod(0o755)  # nginx's workers (nobody) read the web root below it
    svc = start_nginx(base)
    yield svc
    stop_nginx(svc)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def redis():
    require(shutil.which("redis-server") is not None, "redis-server")
    server = Redis(port=free_port())
    server.start()
    yield server
    server.stop()


def _env(database_url: str, nginx_settings: dict, redis_url: str | None = None) -> dict[str, str]:
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NUSANTARA_", "PYTEST_", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "fault-tests-secret-key",
            "DEBUG": os.environ.get("DEBUG", "True"),
            "PYTHONUNBUFFERED": "1",
            "Q_WORKERS": "2",
            "NUSANTARA_JOB_TIMEOUT": "20",
            "LOG_LEVEL": "WARNING",
        }
    )
    for key, value in nginx_settings.items():
        if key.startswith("NUSANTARA_") and key not in ("NUSANTARA_CHALLENGE_DIR",):
            env[key] = str(value)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@pytest.fixture
def side(postgres, nginx_private, request, tmp_path):
    """A fresh database cloned from the migrated template, and a panel pointed at it."""
    db = f"np_fault_{request.node.name.split('[')[0][-20:]}_{int(time.time() * 1000) % 10**6}"
    postgres.sql(f"CREATE DATABASE {db} TEMPLATE {TEMPLATE}")
    redis_url = request.getfixturevalue("redis").url if "redis" in request.fixturenames else None
    env = _env(postgres.url(db), nginx_private.settings, redis_url)
    # A slow `nginx -t` (as on a server with thousands of vhosts) keeps the burst busy long enough
    # for the fault to land in the middle of it, not after it on a fast day.
    env["NUSANTARA_NGINX_TEST_CMD"] = f"sh -c 'sleep 0.5; exec {nginx_private.test_cmd}'"
    panel = SidePanel(env=env, logs=tmp_path)
    panel.db, panel.pg, panel.nginx = db, postgres, nginx_private
    yield panel
    panel.stop()


def _burst(panel: SidePanel, prefix: str, n: int) -> list[str]:
    return panel.shell(BURST.format(prefix=prefix, n=n))


def _job_counts(panel: SidePanel) -> dict[str, int]:
    rows = panel.pg.query("SELECT status, count(*) FROM jobs GROUP BY status", panel.db)
    return dict(rows)


def _wait_ready(panel: SidePanel, timeout: float = 30) -> None:
    """Until a worker process has spawned (it writes the heartbeat row when it does)."""
    deadline = time.monotonic() + timeout
    while not panel.pg.query("SELECT count(*) FROM ops_heartbeat", panel.db)[0][0]:
        if time.monotonic() > deadline:
            pytest.fail(f"worker not up after {timeout}s\n{panel.worker_logs()}")
        time.sleep(0.1)


def _wait_running(panel: SidePanel, timeout: float = 15) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while not (counts := _job_counts(panel)).get("running") and time.monotonic() < deadline:
        time.sleep(0.02)
    return counts


def _settle(panel: SidePanel, timeout: float = 60) -> None:
    """Wait until no job is queued or running, running the reaper now and then. A worker that
    exited is started again, as systemd (Restart=always) or compose would."""
    deadline = time.monotonic() + timeout
    last_reap = time.monotonic()
    while True:
        if all(proc.poll() is not None for proc in panel.workers):
            panel.start_worker()
        try:
            counts = _job_counts(panel)
        except Exception:  # the database is still coming back
            counts = {"queued": -1}
        if not counts.get("queued") and not counts.get("running"):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"jobs still active after {timeout}s: {counts}\n{panel.worker_logs()}")
        if time.monotonic() - last_reap > 4:
            panel.shell(REAP_NOW)
            last_reap = time.monotonic()
        time.sleep(0.5)


def _assert_consistent(panel: SidePanel, site_ids: list[str]) -> None:
    jobs = panel.pg.query("SELECT site_id::text, type, status, error_message FROM jobs", panel.db)
    by_site = {}
    for site_id, job_type, status, error in jobs:
        assert status in ("success", "failed"), (site_id, job_type, status)
        if status == "failed":
            assert error and error.strip(), f"job for {site_id} failed without a reason"
        by_site.setdefault(site_id, []).append((job_type, status))
    lost = [s for s in site_ids if not any(t == "site.provision" for t, _ in by_site.get(s, []))]
    assert not lost, f"sites without a provisioning job: {lost}"
    sites = panel.pg.query("SELECT domain, status FROM sites", panel.db)
    stuck = [(d, s) for d, s in sites if s not in ("active", "failed")]
    assert not stuck, f"sites left in a transient status: {stuck}"
    for domain, status in sites:
        if status == "active":
            response = panel.nginx.wait_for(domain, "/", 200, timeout=10)
            assert response.status == 200, (domain, response.status, response.body[:200])
    assert any(s == "active" for _, s in sites), "no site survived the fault"


def _still_works(panel: SidePanel) -> None:
    [site_id] = _burst(panel, "after", 1)
    _settle(panel)
    [(status,)] = panel.pg.query(f"SELECT status FROM sites WHERE id = '{site_id}'", panel.db)
    assert status == "active"
    assert panel.nginx.wait_for("after0.fault.test", "/", 200).status == 200


def test_postgres_restart_during_a_provisioning_burst(side):
    side.start_worker()
    _wait_ready(side)
    site_ids = _burst(side, "pg", 16)
    before = _wait_running(side)
    side.pg.stop()  # mid-burst: the worker is provisioning these sites right now
    assert before.get("running"), before  # really mid-burst
    time.sleep(1.5)
    side.pg.start()
    _settle(side)
    _assert_consistent(side, site_ids)
    _still_works(side)


def test_redis_restart_while_jobs_are_queued(side, redis):
    # No worker yet: the tasks wait in Redis.
    site_ids = _burst(side, "redis", 12)
    assert _job_counts(side) == {"queued": 12}
    redis.stop()  # no persistence: every queued task is gone
    redis.start()
    side.start_worker()
    _settle(side)
    _assert_consistent(side, site_ids)
    _still_works(side)


def test_worker_killed_mid_burst_and_restarted(side, redis):
    # With the Redis broker; with the ORM broker a task the dead worker had fetched comes back
    # by itself after Q_CLUSTER["retry"] seconds (FACTS.md), too slow for this test.
    worker = side.start_worker()
    _wait_ready(side)
    site_ids = _burst(side, "kill", 16)
    before = _wait_running(side)
    side.kill_worker(worker)  # SIGKILL the whole process group, mid-job
    assert before.get("running"), before
    side.start_worker()
    _settle(side)
    _assert_consistent(side, site_ids)
    _still_works(side)
