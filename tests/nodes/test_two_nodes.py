"""Two nodes on one machine, for real: two private nginx instances on their own loopback ports
and directories, two `manage.py qcluster` workers started with NUSANTARA_NODE=node-a and
NUSANTARA_NODE=node-b (each with its own NUSANTARA_* paths), one broker (a private
redis-server, or the ORM broker on the test database).

A site on node-b is provisioned only by node-b's worker and served only by node-b's nginx;
with node-b's worker stopped its site waits `queued` with "waiting for node node-b" while
node-a's sites provision; starting node-b's worker again finishes it. A partition (node-b's
worker cut off from Redis mid-burst) loses no job and leaves none stuck.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.test.utils import override_settings

from panel.jobs.models import Job, JobStatus
from panel.nodes.models import Node
from panel.nodes.services import node_create
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create
from tests.conftest import require
from tests.services.nginx import NginxService, free_port, start_nginx, stop_nginx
from tests.services.worker import Worker, wait_for_job, worker_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

NODES = ("node-a", "node-b")


class Cluster:
    """The two nodes: their nginx, their workers, and the broker they share."""

    def __init__(self, nginx: dict[str, NginxService], redis_url: str | None) -> None:
        self.nginx = nginx
        self.redis_url = redis_url
        self.workers: dict[str, Worker] = {}
        self.broker_url: dict[str, str | None] = dict.fromkeys(NODES, redis_url)
        self.extra_env: dict[str, dict[str, str]] = {node: {} for node in NODES}

    def env(self, node: str) -> dict[str, str]:
        svc = self.nginx[node]
        overrides = {
            key: str(value) for key, value in svc.settings.items() if key.startswith("NUSANTARA_")
        }
        overrides.update(
            NUSANTARA_NODE=node,
            # Static sites only; no system users, so nothing outlives the test on the machine.
            NUSANTARA_ISOLATION="off",
            Q_WORKERS="1",
            LOG_LEVEL="WARNING",
        )
        env = worker_env(**overrides)
        env.pop("REDIS_URL", None)
        env.pop("Q_CLUSTER_NAME", None)
        if self.broker_url[node]:
            env["REDIS_URL"] = str(self.broker_url[node])
        env.update(self.extra_env[node])
        return env

    def start(self, node: str) -> Worker:
        self.workers[node] = Worker(self.env(node))
        return self.workers[node]

    def stop(self, node: str) -> None:
        worker = self.workers.pop(node, None)
        if worker is not None:
            worker.stop()

    def wait_up(self, node: str, timeout: float = 60) -> None:
        """Until the node's worker has reported (its post_spawn heartbeat writes nodes)."""
        since = Node.objects.get(name=node).last_heartbeat_at
        deadline = time.monotonic() + timeout
        while Node.objects.get(name=node).last_heartbeat_at in (None, since):
            worker = self.workers[node]
            if not worker.alive or time.monotonic() > deadline:
                pytest.fail(f"{node}'s worker did not report:\n{worker.log_tail()}")
            time.sleep(0.1)


def _start_two_nginx() -> dict[str, NginxService]:
    services = {}
    for node in NODES:
        base = Path(tempfile.mkdtemp(prefix=f"np-{node}-"))
        base.chmod(0o755)
        services[node] = start_nginx(base)
    return services


@pytest.fixture
def redis_server() -> Iterator[object]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    from tests.ops.faults import Redis

    # A private redis-server: parallel test runs cannot see each other's queues.
    server = Redis(port=free_port())
    server.start()
    yield server
    server.stop()


def _cluster(request: pytest.FixtureRequest, redis_url: str | None) -> Iterator[Cluster]:
    require(shutil.which("nginx") is not None, "nginx is not installed")
    services = _start_two_nginx()
    cluster = Cluster(services, redis_url)
    try:
        yield cluster
    finally:
        for node in list(cluster.workers):
            cluster.stop(node)
        for svc in services.values():
            stop_nginx(svc)
            shutil.rmtree(svc.dir, ignore_errors=True)


@pytest.fixture
def redis_cluster(request, redis_server, monkeypatch, admin_user) -> Iterator[Cluster]:
    from django_q.conf import Conf

    # django-q2 reads its configuration at import: the test process enqueues on Redis too.
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_server.url)
    _register_nodes(admin_user)
    yield from _cluster(request, redis_server.url)


@pytest.fixture
def orm_cluster(request, admin_user) -> Iterator[Cluster]:
    _register_nodes(admin_user)
    yield from _cluster(request, None)


def _register_nodes(admin) -> None:
    for node in NODES:
        node_create(user=admin, name=node, address="127.0.0.1")


def _create(admin, domain: str, node: str) -> Site:
    return site_create(user=admin, domain=domain, runtime="static", node=node)


def _job_of(site: Site) -> Job:
    return Job.objects.get(site_id=site.pk, type="site.provision")


def _ran_on(job: Job, worker: Worker) -> bool:
    """The job's worker process ("host:pid") belongs to this qcluster's process group."""
    pid = int(job.worker.rpartition(":")[2])
    try:
        return os.getpgid(pid) == worker.proc.pid
    except ProcessLookupError:
        return False


def _assert_served_only_by(cluster: Cluster, site: Site, node: str) -> None:
    other = next(n for n in NODES if n != node)
    response = cluster.nginx[node].wait_for(site.domain, "/", 200, timeout=20)
    assert response.status == 200, (site.domain, response.status, response.body[:200])
    assert cluster.nginx[other].get(site.domain).status == 404
    assert (cluster.nginx[node].conf_dir / f"{site.domain}.conf").exists()
    assert not (cluster.nginx[other].conf_dir / f"{site.domain}.conf").exists()


def _two_nodes_journey(cluster: Cluster, admin, admin_client, settings) -> None:
    worker_a, worker_b = cluster.start("node-a"), cluster.start("node-b")
    cluster.wait_up("node-a")
    cluster.wait_up("node-b")
    on_a = _create(admin, "first-a.nodes.test", "node-a")
    on_b = _create(admin, "first-b.nodes.test", "node-b")
    job_a = wait_for_job(_job_of(on_a), timeout=60, worker=worker_a)
    job_b = wait_for_job(_job_of(on_b), timeout=60, worker=worker_b)
    assert (job_a.status, job_b.status) == ("success", "success"), (job_a.log, job_b.log)
    assert _ran_on(job_b, worker_b) and not _ran_on(job_b, worker_a)
    assert _ran_on(job_a, worker_a) and not _ran_on(job_a, worker_b)
    _assert_served_only_by(cluster, on_a, "node-a")
    _assert_served_only_by(cluster, on_b, "node-b")
    # node-b's worker derived the document root under node-b's own web root.
    assert Site.objects.get(pk=on_b.pk).root_path.startswith(str(cluster.nginx["node-b"].web_root))

    # node-b goes down: its site waits, said so; node-a carries on.
    cluster.stop("node-b")
    settings.NUSANTARA_NODE_OFFLINE_AFTER = 2
    time.sleep(2.5)
    waiting = _create(admin, "waits.nodes.test", "node-b")
    meanwhile = _create(admin, "meanwhile.nodes.test", "node-a")
    assert wait_for_job(_job_of(meanwhile), timeout=60, worker=worker_a).status == "success"
    _assert_served_only_by(cluster, meanwhile, "node-a")
    job = _job_of(waiting)
    assert job.status == JobStatus.QUEUED
    assert Site.objects.get(pk=waiting.pk).status == SiteStatus.PROVISIONING
    for url in (f"/sites/{waiting.pk}/", f"/jobs/{job.pk}/"):
        page = admin_client.get(url).content.decode()
        assert "Waiting for node node-b (last seen " in page, url

    # node-b is back: the job that waited runs there.
    worker_b = cluster.start("node-b")
    done = wait_for_job(job, timeout=90, worker=worker_b)
    assert done.status == "success", done.log
    assert _ran_on(done, worker_b)
    _assert_served_only_by(cluster, waiting, "node-b")
    assert "Waiting for node" not in admin_client.get(f"/jobs/{job.pk}/").content.decode()


def test_two_nodes_on_redis(redis_cluster, admin_user, admin_client, settings):
    _two_nodes_journey(redis_cluster, admin_user, admin_client, settings)


def test_two_nodes_on_the_orm_broker(orm_cluster, admin_user, admin_client, settings):
    from django_q.models import OrmQ

    _two_nodes_journey(orm_cluster, admin_user, admin_client, settings)
    assert not OrmQ.objects.exclude(key__in=NODES).exists()


# --- a partition: node-b's worker cannot reach Redis for a while ---------------------------


class Gate:
    """A TCP forwarder in front of Redis for node-b's worker. `cut()` closes every connection
    and the listener (connections are then refused, as across a broken link); `restore()`
    listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.restore()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restore(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def cut(self) -> None:
        with self.lock:
            if self.listener is not None:
                self.listener.close()
                self.listener = None
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self.conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _reap_as(node: str) -> None:
    """The reaper of that node, now (its schedule runs every minute and waits a grace
    period; the test cannot wait minutes)."""
    import panel.jobs.recovery as recovery

    with override_settings(NUSANTARA_NODE=node):
        old = recovery.GRACE, recovery.LOST_QUEUED_AFTER
        recovery.GRACE = recovery.LOST_QUEUED_AFTER = timedelta(0)
        try:
            recovery.reap()
        finally:
            recovery.GRACE, recovery.LOST_QUEUED_AFTER = old


def test_partition_from_redis_mid_burst_loses_nothing(redis_cluster, admin_user, redis_server):
    cluster = redis_cluster
    gate = Gate(redis_server.port)
    cluster.broker_url["node-b"] = gate.url
    # A slow `nginx -t` on node-b (as with thousands of vhosts) keeps its burst busy when the
    # link breaks.
    test_cmd = cluster.nginx["node-b"].test_cmd
    cluster.extra_env["node-b"]["NUSANTARA_NGINX_TEST_CMD"] = f"sh -c 'sleep 0.3; exec {test_cmd}'"
    try:
        cluster.start("node-a")
        worker_b = cluster.start("node-b")
        cluster.wait_up("node-a")
        cluster.wait_up("node-b")
        sites = []
        for i in range(8):
            sites.append(_create(admin_user, f"b{i}.part.nodes.test", "node-b"))
            sites.append(_create(admin_user, f"a{i}.part.nodes.test", "node-a"))
        deadline = time.monotonic() + 30
        while not Job.objects.filter(node__name="node-b", status=JobStatus.SUCCESS).exists():
            assert time.monotonic() < deadline, worker_b.log_tail()
            time.sleep(0.02)
        gate.cut()  # mid-burst: node-b has started, more of its tasks wait in Redis
        unfinished = Job.objects.filter(node__name="node-b").exclude(status="success").count()
        more = [_create(admin_user, f"c{i}.part.nodes.test", "node-b") for i in range(4)]
        time.sleep(3)
        # The worker really lost its broker (django-q2's pusher logs it and is restarted).
        assert "Failed to pull task from broker" in worker_b.log_tail(20000)
        # Meanwhile node-a, on the same Redis, carries on.
        assert wait_for_job(_job_of(sites[-1]), timeout=60).status == "success"
        gate.restore()
        sites += more
        deadline = time.monotonic() + 120
        last_reap = time.monotonic()
        while Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
            if time.monotonic() > deadline:
                active = list(
                    Job.objects.filter(status__in=["queued", "running"]).values_list(
                        "payload", "status", "node__name"
                    )
                )
                pytest.fail(f"jobs still active: {active}\n{worker_b.log_tail()}")
            if time.monotonic() - last_reap > 5:
                for node in NODES:
                    _reap_as(node)
                last_reap = time.monotonic()
            time.sleep(0.5)
        assert unfinished > 0  # the cut really came mid-burst
        jobs = Job.objects.filter(type="site.provision")
        assert jobs.count() == len(sites)
        failed = list(jobs.exclude(status="success").values_list("payload", "error_message"))
        assert not failed, failed
        for site in sites:
            node = Site.objects.select_related("node").get(pk=site.pk).node.name
            assert Site.objects.get(pk=site.pk).status == SiteStatus.ACTIVE
            _assert_served_only_by(cluster, site, node)
    finally:
        gate.cut()
