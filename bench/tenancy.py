"""Tenancy benchmark: PHP sites with their own system user and php-fpm pool, on the real nginx,
a real php-fpm master and a real django-q2 worker. Needs root (isolation on).

    uv run python bench/tenancy.py [--single 15] [--burst 500] [--total 1000] [--cold 20]

Creates the database `np_bench_tenancy` afresh on the local PostgreSQL (BENCH_DATABASE_URL = a
full URL to use another scratch database; SQLite in the scratch dir if PostgreSQL is not
reachable), starts a private nginx, a private php-fpm master (pools included from a directory, as
in production) and one `qcluster`, then measures:

1. site_create() -> served, PHP (index.php executed through nginx by the site's pool) and static
   side by side, alternating, p50/p95; and -> `active` (the probe proved PHP ran as the site user);
2. a burst of 500 PHP sites created at once (8 threads): time until all are `active`, and how many
   `php-fpm -t`, php-fpm reloads, `nginx -t` and nginx reloads that took (every command the panel
   runs goes through a small counting wrapper);
3. with 1,000 idle PHP sites on the one master (the burst plus more, through the worker too):
   master RSS and the RSS of all php-fpm processes, `php-fpm -t` and reload time against a second
   master with 10 of the same pools, and the first request to a cold pool against a warm one.

Everything it creates (system users and their groups, homes, pools, the database, the scratch
dir) is removed at the end, on failure and on Ctrl-C too. Results are printed and written to
docs/benchmarks.md, section "Tenancy". Targets (Tenancy issue): single PHP p50 < 0.6 s; 500 PHP
sites active < 20 s with the pool reloads batched like nginx's.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "np_bench_tenancy"
SFTP_GROUP = "np-bench-sftp"
PHP_PAGE = "6 * 7 = 42"  # what the default index.php prints once PHP executed it
sys.path.insert(0, str(ROOT))

from bench.docs_section import DOCS, write_section  # noqa: E402

# `<label> <command...>`: run the command, append "<label> <start ns> <end ns> <status>".
COUNTER = """#!/bin/sh
label=$1; shift
start=$(date +%s%N)
"$@"
rc=$?
echo "$label $start $(date +%s%N) $rc" >> {log}
exit $rc
"""

WHOAMI = "<?php echo 'user=' . posix_getpwuid(posix_geteuid())['name'];\n"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- the scratch database ---------------------------------------------------------------------


def _database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    base, name = url.rsplit("/", 1)
    try:
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return url
    except Exception as exc:
        log(f"PostgreSQL not reachable ({exc}); using SQLite")
        return ""


def _drop_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- processes --------------------------------------------------------------------------------


def _status_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, title) of the processes whose parent is `pid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append((int(entry.name), title))
    return out


class Commands:
    """What the counting wrapper saw: `php-fpm -t`, php-fpm reloads, `nginx -t`, nginx reloads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, mark: int) -> dict[str, tuple[int, float]]:
        """{label: (runs, seconds spent)} for the lines written after `mark`."""
        with self.path.open() as fh:
            fh.seek(mark)
            lines = fh.read().splitlines()
        out: dict[str, tuple[int, float]] = {}
        for line in lines:
            label, start, end, _rc = line.split()
            runs, spent = out.get(label, (0, 0.0))
            out[label] = (runs + 1, spent + (int(end) - int(start)) / 1e9)
        return out


class Fpm:
    """A php-fpm master: its pid, log, and a reload measured until it is ready again."""

    def __init__(self, svc) -> None:
        self.svc = svc
        self.log = svc.dir / "fpm.log"

    @property
    def pid(self) -> int:
        return self.svc.proc.pid

    def ready_count(self) -> int:
        try:
            return self.log.read_text(errors="replace").count("ready to handle connections")
        except OSError:
            return 0

    def test_seconds(self) -> float:
        start = time.perf_counter()
        subprocess.run(
            [self.svc.binary, "-t", "-y", str(self.svc.conf)], check=True, capture_output=True
        )
        return time.perf_counter() - start

    def reload_seconds(self) -> float:
        """USR2 until the master logs "ready to handle connections" again (all pools re-read,
        sockets re-opened): what a reload costs before the new pools answer."""
        before = self.ready_count()
        start = time.perf_counter()
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 120
        while self.ready_count() <= before:
            if time.monotonic() > deadline or self.svc.proc.poll() is not None:
                raise RuntimeError(f"php-fpm {self.pid} did not come back from a reload")
            time.sleep(0.002)
        return time.perf_counter() - start

    def rss(self) -> tuple[int, int, int]:
        """(master VmRSS kB, VmRSS kB of the master and all its children, children)."""
        kids = _children(self.pid)
        return (
            _status_kb(self.pid),
            _status_kb(self.pid) + sum(_status_kb(p) for p, _t in kids),
            len(kids),
        )


# --- the run ----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.scratch = Path(tempfile.mkdtemp(prefix="np-bench-ten-"))
        self.scratch.chmod(0o755)  # the pools' users must reach the web root below it
        self.nginx = None
        self.fpm: Fpm | None = None
        self.fpm10: Fpm | None = None
        self.worker: subprocess.Popen | None = None
        self.db_url = ""
        self.cleaned = False

    # -- setup and clean-up --

    def start(self) -> None:
        from tests.services.nginx import start_nginx
        from tests.services.phpfpm import find_binary, start_phpfpm

        binary = find_binary()
        if binary is None:
            raise RuntimeError("php-fpm is not installed (apt-get install php-fpm)")
        self.nginx = start_nginx(self.scratch / "nginx")
        self.fpm = Fpm(start_phpfpm(self.scratch / "fpm", binary))
        self.commands = Commands(self.scratch / "commands.log")
        counter = self.scratch / "count.sh"
        counter.write_text(COUNTER.format(log=self.commands.path))
        counter.chmod(0o755)
        self.db_url = _database_url() or f"sqlite:///{self.scratch / 'bench.sqlite3'}"
        env = {
            **{k: str(v) for k, v in self.nginx.settings.items()},
            **self.fpm.svc.settings,
            "NUSANTARA_NGINX_TEST_CMD": f"{counter} nginx-t {self.nginx.test_cmd}",
            "NUSANTARA_NGINX_RELOAD_CMD": f"{counter} nginx-reload {self.nginx.reload_cmd}",
            "NUSANTARA_PHP_FPM_TEST_CMD": (
                f"{counter} fpm-t {self.fpm.svc.settings['NUSANTARA_PHP_FPM_TEST_CMD']}"
            ),
            "NUSANTARA_PHP_FPM_RELOAD_CMD": f"{counter} fpm-reload kill -USR2 {self.fpm.pid}",
            "NUSANTARA_ISOLATION": "on",
            "NUSANTARA_SFTP_GROUP": SFTP_GROUP,
            "NUSANTARA_SSH_KEYS_DIR": str(self.scratch / "ssh-keys"),
            "DATABASE_URL": self.db_url,
            "REDIS_URL": "",  # the ORM broker: never another engineer's Redis queue
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "localhost",
            "NUSANTARA_MAX_SITES_PER_USER": "100000",
            # Throughput, not the brakes: the per-account limits would stop a burst.
            "NUSANTARA_RATE_ACCOUNT_SITES": "off",
            "NUSANTARA_RATE_ACCOUNT_JOBS": "off",
            "DJANGO_SETTINGS_MODULE": "nusantara.settings",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.worker_log = self.scratch / "qcluster.log"
        with self.worker_log.open("ab") as out:
            self.worker = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env={**os.environ},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def cleanup(self) -> None:
        """Remove everything the run made; safe to call twice, and at exit."""
        if self.cleaned:
            return
        self.cleaned = True
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: finish this
        try:
            self._cleanup()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _cleanup(self) -> None:
        from tests.services.phpfpm import stop_phpfpm

        log("cleaning up: worker, php-fpm, nginx, site users, homes, pools, database")
        if self.worker is not None and self.worker.poll() is None:
            with _suppress():
                os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        for fpm in (self.fpm10, self.fpm):
            if fpm is not None and fpm.svc.proc.poll() is None:
                stop_phpfpm(fpm.svc)
        if self.nginx is not None:
            from tests.services.nginx import stop_nginx

            stop_nginx(self.nginx)
            from tests.services.tenancy import remove_site_users, site_users

            # The site users (panel's GECOS marker, home in this run's web root) and their
            # own groups (userdel removes a user's private group), then the SFTP group.
            remove_site_users(self.nginx.web_root, SFTP_GROUP)
            left = site_users(self.nginx.web_root)
            if left:
                log(f"WARNING: {len(left)} site user(s) could not be removed: {left[:5]}")
        if self.db_url:
            with _suppress():
                from django.db import connections

                connections.close_all()
            try:
                _drop_database(self.db_url)
            except Exception as exc:
                log(f"WARNING: could not drop the database: {exc}")
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- helpers --

    def wait_served(self, domain: str, text: str, deadline: float) -> bool:
        while time.monotonic() < deadline:
            try:
                resp = self.nginx.get(domain)
                if resp.status == 200 and text in resp.body:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.01)
        return False

    def ran_as(self, site) -> str:
        """Drop a script into the site's public/ (the site user's) and ask nginx who runs it."""
        path = Path(site.root_path) / "np-bench-whoami.php"
        path.write_text(WHOAMI)
        os.chown(path, *_ids(site.system_user))
        path.chmod(0o640)
        try:
            for _ in range(50):
                resp = self.nginx.get(site.domain, "/np-bench-whoami.php")
                if resp.status == 200:
                    return resp.body.strip().removeprefix("user=")
                time.sleep(0.1)
            return f"HTTP {resp.status}"
        finally:
            path.unlink(missing_ok=True)

    # -- 1. single sites --

    def one_site(self, domain: str, runtime: str) -> dict:
        from panel.sites.models import Site, SiteStatus
        from panel.sites.services import site_create

        text = PHP_PAGE if runtime == "php" else domain
        start = time.monotonic()
        site = site_create(user=self.admin, domain=domain, runtime=runtime)
        served = active = None
        deadline = start + 60
        while served is None or active is None:
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"{domain} was not served and active within 60 s")
            if served is None:
                try:
                    resp = self.nginx.get(domain)
                    if resp.status == 200 and text in resp.body:
                        served = time.monotonic() - start
                except (OSError, http.client.HTTPException):
                    pass
            if active is None:
                status = Site.objects.filter(pk=site.pk).values_list("status", flat=True).first()
                if status == SiteStatus.ACTIVE:
                    active = time.monotonic() - start
                elif status == SiteStatus.FAILED:
                    raise RuntimeError(f"{domain} failed: {self.job_error(site)}")
            time.sleep(0.01)
        site.refresh_from_db()
        return {"served": served, "active": active, "site": site}

    def job_error(self, site) -> str:
        from panel.jobs.models import Job

        job = Job.objects.filter(site_id=site.pk).order_by("-created_at").first()
        return job.error_message if job else "no job"

    def singles(self, res: dict) -> None:
        log("warming up the worker (one PHP and one static site)")
        self.one_site("warmup-php.bench.example", "php")
        self.one_site("warmup-static.bench.example", "static")
        n = self.args.single
        log(f"single-site latency, {n} PHP and {n} static runs, alternating")
        php, static = [], []
        for i in range(n):
            php.append(self.one_site(f"php{i}.bench.example", "php"))
            static.append(self.one_site(f"static{i}.bench.example", "static"))
        checked = [(r["site"].system_user, self.ran_as(r["site"])) for r in php]
        res["single_ran_as_ok"] = sum(a == b for a, b in checked)
        if res["single_ran_as_ok"] != len(checked):
            raise RuntimeError(f"PHP did not run as the site user: {checked}")
        for name, rows in (("php", php), ("static", static)):
            for what in ("served", "active"):
                values = [r[what] for r in rows]
                res[f"{name}_{what}_p50"] = _pct(values, 0.5)
                res[f"{name}_{what}_p95"] = _pct(values, 0.95)
            res[f"{name}_job"] = statistics.median(self.job_seconds(r["site"]) for r in rows)
        log(
            "  PHP served p50 {:.0f} ms / p95 {:.0f} ms; "
            "static p50 {:.0f} ms / p95 {:.0f} ms".format(
                res["php_served_p50"] * 1000,
                res["php_served_p95"] * 1000,
                res["static_served_p50"] * 1000,
                res["static_served_p95"] * 1000,
            )
        )
        log(
            f"  job run time (worker, running -> success) median: PHP "
            f"{res['php_job'] * 1000:.0f} ms, static {res['static_job'] * 1000:.0f} ms"
        )

    def job_seconds(self, site) -> float:
        from panel.jobs.models import Job

        job = Job.objects.filter(site_id=site.pk, type="site.provision").first()
        return (job.finished_at - job.started_at).total_seconds()

    # -- 2. bursts --

    def burst(self, prefix: str, count: int) -> dict:
        from django.db import close_old_connections

        from panel.jobs.models import Job
        from panel.sites.models import Site, SiteStatus
        from panel.sites.services import site_create

        before = set(Job.objects.values_list("pk", flat=True))
        mark = self.commands.mark()
        peak = {"children": 0}
        stop = threading.Event()

        def sample() -> None:  # php-fpm children alive (ondemand: one per probed pool, 10 s)
            while not stop.wait(0.5):
                peak["children"] = max(peak["children"], len(_children(self.fpm.pid)))

        def create(i: int) -> None:
            try:
                site_create(user=self.admin, domain=f"{prefix}{i}.bench.example", runtime="php")
            finally:
                close_old_connections()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(count)))
        out: dict = {"count": count, "created": time.monotonic() - start, "ok": True}
        sites = Site.objects.filter(domain__startswith=prefix, domain__endswith=".bench.example")
        deadline = start + self.args.burst_timeout
        while sites.filter(status=SiteStatus.ACTIVE).count() < count:
            failed = sites.filter(status=SiteStatus.FAILED).first()
            if failed is not None or time.monotonic() > deadline:
                out["ok"] = False
                out["why"] = (
                    f"{failed.domain} failed: {self.job_error(failed)}"
                    if failed
                    else f"not all active after {self.args.burst_timeout} s"
                )
                break
            time.sleep(0.05)
        out["active"] = time.monotonic() - start
        stop.set()
        sampler.join()
        out["n_active"] = sites.filter(status=SiteStatus.ACTIVE).count()
        out["peak_children"] = peak["children"]
        out["commands"] = self.commands.since(mark)
        # Every job of a batch carries the same summary line (nginx's part and the prepare
        # time); one per batch.
        summary = re.compile(r"nginx: (\d+) change\(s\) in this batch.*?prepared in (\d+) ms")
        seen: dict[str, tuple[int, int]] = {}
        spans: dict[str, list] = {}
        jobs = Job.objects.exclude(pk__in=before).filter(type="site.provision")
        first_created = min(j.created_at for j in jobs)
        for job in jobs:
            for line in job.log:
                m = summary.search(line["msg"])
                if m:
                    seen[m.group(0)] = (int(m.group(1)), int(m.group(2)))
                    spans.setdefault(m.group(0), []).append((job.started_at, job.finished_at))
                    break
        out["batches"] = len(seen)
        out["batch_sizes"] = sorted((n for n, _p in seen.values()), reverse=True)
        out["prepare_s"] = sum(p for _n, p in seen.values()) / 1000
        # Per batch, from the first site row: when its jobs were claimed and when they ended.
        out["timeline"] = sorted(
            (
                seen[key][0],
                (min(s for s, _f in rows) - first_created).total_seconds(),
                (max(f for _s, f in rows) - first_created).total_seconds(),
            )
            for key, rows in spans.items()
        )
        out["timeline"].sort(key=lambda t: t[1])
        sample_sites = list(sites.order_by("domain")[: min(20, count)])
        out["ran_as_ok"] = sum(self.ran_as(s) == s.system_user for s in sample_sites)
        out["ran_as_n"] = len(sample_sites)
        cmd = out["commands"]
        log(
            f"  all active after {out['active']:.1f} s (created in {out['created']:.1f} s), "
            f"{out['batches']} batches {out['batch_sizes']}; "
            + ", ".join(f"{k} x{n} ({s:.1f} s)" for k, (n, s) in sorted(cmd.items()))
            + f"; prepare {out['prepare_s']:.1f} s; "
            f"peak php-fpm children {out['peak_children']}"
        )
        log("  batches (jobs, claimed at, ended at): " + _timeline(out["timeline"]))
        if not out["ok"]:
            log(f"  NOT OK: {out['why']}")
        return out

    # -- 3. 1,000 idle PHP sites --

    def thousand(self, res: dict) -> None:
        from panel.sites.models import Runtime, Site
        from tests.services.phpfpm import start_phpfpm

        pool_dir = Path(self.fpm.svc.settings["NUSANTARA_PHP_FPM_POOL_DIR"])
        php_sites = Site.objects.filter(runtime=Runtime.PHP).count()
        more = max(0, self.args.total - php_sites)
        log(f"adding {more} PHP sites beside the {php_sites} there (worker, one burst)")
        res["more"] = self.burst("more", more)
        res["n_pools"] = len(list(pool_dir.glob("*.conf")))

        log("waiting for the probes' php-fpm children to end (pm = ondemand, idle timeout)")
        deadline = time.monotonic() + 90
        while _children(self.fpm.pid) and time.monotonic() < deadline:
            time.sleep(0.5)

        # A second master with 10 of the same pools (sockets in its own dir), side by side.
        base10 = self.scratch / "fpm10"
        self.fpm10 = Fpm(start_phpfpm(base10, self.fpm.svc.binary))
        sockets = str(Path(self.fpm.svc.settings["NUSANTARA_PHP_FPM_SOCKET_DIR"]))
        for conf in sorted(pool_dir.glob("*.conf"))[:10]:
            text = conf.read_text().replace(sockets + "/", str(base10 / "sockets") + "/")
            (base10 / "pools" / conf.name).write_text(text)
        self.fpm10.reload_seconds()  # now serving its 10 pools
        res["n_pools10"] = len(list((base10 / "pools").glob("*.conf")))
        time.sleep(1)

        res["rss"], res["rss10"] = self.fpm.rss(), self.fpm10.rss()
        log(
            "  master VmRSS {:.1f} MB with {} pools ({:.1f} MB with all processes, {} children)"
            "; {:.1f} MB with {} pools".format(
                res["rss"][0] / 1024,
                res["n_pools"],
                res["rss"][1] / 1024,
                res["rss"][2],
                res["rss10"][0] / 1024,
                res["n_pools10"],
            )
        )
        t_big, t_small, r_big, r_small = [], [], [], []
        for _ in range(5):  # alternating: the machine's load moves within seconds
            t_big.append(self.fpm.test_seconds())
            t_small.append(self.fpm10.test_seconds())
        for _ in range(3):
            r_big.append(self.fpm.reload_seconds())
            r_small.append(self.fpm10.reload_seconds())
            time.sleep(0.5)
        res["fpm_t"] = (statistics.median(t_big), statistics.median(t_small))
        res["fpm_reload"] = (statistics.median(r_big), statistics.median(r_small))
        log(
            "  php-fpm -t {:.0f} ms vs {:.0f} ms; "
            "reload {:.0f} ms vs {:.0f} ms ({} vs {} pools)".format(
                res["fpm_t"][0] * 1000,
                res["fpm_t"][1] * 1000,
                res["fpm_reload"][0] * 1000,
                res["fpm_reload"][1] * 1000,
                res["n_pools"],
                res["n_pools10"],
            )
        )

        # Cold pool: no process yet (a reload ended every child); warm: right after.
        sites = list(Site.objects.filter(domain__startswith="more").order_by("domain"))
        step = max(1, len(sites) // self.args.cold)
        cold, warm, skipped = [], [], 0
        for site in sites[::step][: self.args.cold]:
            title = f"pool {site.system_user}"
            if any(title in t for _p, t in _children(self.fpm.pid)):
                skipped += 1
                continue
            times = []
            for _ in range(2):
                start = time.perf_counter()
                resp = self.nginx.get(site.domain)
                times.append(time.perf_counter() - start)
                if resp.status != 200 or PHP_PAGE not in resp.body:
                    raise RuntimeError(f"{site.domain}: HTTP {resp.status} {resp.body[:200]}")
            cold.append(times[0])
            warm.append(times[1])
        res["cold"] = (statistics.median(cold), statistics.median(warm), len(cold), skipped)
        log(
            f"  first request to a cold pool p50 {res['cold'][0] * 1000:.1f} ms, warm "
            f"{res['cold'][1] * 1000:.1f} ms ({len(cold)} sites)"
        )

    def run(self) -> dict:
        from django.conf import settings
        from django.db import connection

        from panel.accounts.models import Role, User

        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SHOW server_version")
                db = f"PostgreSQL {cur.fetchone()[0].split()[0]}"
        else:
            db = "SQLite"

        self.admin = User.objects.create_user("bench-admin", role=Role.ADMIN)
        res: dict = {
            "args": vars(self.args),
            "load": [os.getloadavg()],
            "db": db,
            "debug": settings.DEBUG,
            "workers": settings.Q_CLUSTER["workers"],
            "broker": "Redis" if settings.Q_CLUSTER.get("redis") else "ORM (the database)",
        }
        self.singles(res)
        res["load"].append(os.getloadavg())
        log(f"burst: {self.args.burst} PHP sites at once")
        res["burst"] = self.burst("burst", self.args.burst)
        res["load"].append(os.getloadavg())
        self.thousand(res)
        res["load"].append(os.getloadavg())
        burst = res["burst"]
        res["ok"] = all(
            [
                res["php_served_p50"] < 0.6,
                burst["ok"],
                burst["active"] < 20,
                res["more"]["ok"],
            ]
        )
        return res


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], (OSError, ProcessLookupError))


def _timeline(rows: list) -> str:
    return ", ".join(f"{n} jobs {a:.1f} -> {b:.1f} s" for n, a, b in rows)


def _ids(user: str) -> tuple[int, int]:
    import grp
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, grp.getgrnam("nogroup").gr_gid


def _versions() -> str:
    def first_line(argv: list[str]) -> str:
        try:
            res = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (res.stdout + res.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    nginx = first_line(["nginx", "-v"]).removeprefix("nginx version: ")
    from tests.services.phpfpm import find_binary

    php = first_line([find_binary() or "php-fpm", "-v"]).split(" (")[0]
    return f"{nginx}, {php}, Python {platform.python_version()}"


def render(r: dict) -> str:
    db, a = r["db"], r["args"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    verdict = lambda ok: "meets target" if ok else "MISSES target"  # noqa: E731
    b, m = r["burst"], r["more"]

    def cmds(x: dict) -> str:
        c = x["commands"]
        get = lambda k: c.get(k, (0, 0.0))  # noqa: E731
        return (
            f"{get('fpm-t')[0]} `php-fpm -t` ({get('fpm-t')[1]:.1f} s), "
            f"{get('fpm-reload')[0]} php-fpm reloads; {get('nginx-t')[0]} `nginx -t` "
            f"({get('nginx-t')[1]:.1f} s), {get('nginx-reload')[0]} nginx reloads; "
            f"{x['batches']} batches"
        )

    ratio = r["php_served_p50"] / r["static_served_p50"]
    loads = " -> ".join(f"{x[0]:.1f}" for x in r["load"])
    rss, rss10 = r["rss"], r["rss10"]
    fpm_t, fpm_r, cold = r["fpm_t"], r["fpm_reload"], r["cold"]
    return "\n".join(
        [
            "## Tenancy",
            "",
            f"`uv run python bench/tenancy.py` (as root, `NUSANTARA_ISOLATION=on`), run {when} "
            f"on {os.cpu_count()} cores: {db}, DEBUG={'on' if r['debug'] else 'off'}, one "
            f"`qcluster` ({r['workers']} workers, {r['broker']} broker), a private nginx and one "
            f"private php-fpm master on loopback ({_versions()}). Every site has its own system "
            "user, home and (PHP) `pm = ondemand` pool; a site is `active` once the probe saw "
            "PHP run as the site user through nginx. Served = nginx returns the default "
            f"`index.php` executed (`{PHP_PAGE}`) or the static `index.html`. 1-minute load "
            f"average, measured by the run at the start and after each part: {loads}.",
            "",
            "| Measure | Result | Target |",
            "| --- | --- | --- |",
            f"| PHP site, create -> served, p50 / p95 ({a['single']} runs) | "
            f"{r['php_served_p50'] * 1000:.0f} ms / {r['php_served_p95'] * 1000:.0f} ms | "
            f"p50 < 600 ms, {verdict(r['php_served_p50'] < 0.6)} |",
            f"| Static site, same run, alternating, p50 / p95 | "
            f"{r['static_served_p50'] * 1000:.0f} ms / {r['static_served_p95'] * 1000:.0f} ms"
            " | - |",
            f"| PHP / static (p50) | {ratio:.2f} x | - |",
            f"| create -> `active`, PHP / static p50 | {r['php_active_p50'] * 1000:.0f} ms / "
            f"{r['static_active_p50'] * 1000:.0f} ms | - |",
            f"| Job run time in the worker, PHP / static median | {r['php_job'] * 1000:.0f} ms / "
            f"{r['static_job'] * 1000:.0f} ms | - |",
            f"| PHP ran as the site user (own check through nginx) | {r['single_ran_as_ok']} of "
            f"{a['single']} | all |",
            f"| {b['count']} PHP sites at once (8 threads, {b['created']:.1f} s to create) -> "
            f"all active | {b['active']:.1f} s ({b['n_active']} active) | < 20 s, "
            f"{verdict(b['ok'] and b['active'] < 20)} |",
            f"| Commands for that burst | {cmds(b)} | pool reloads batched |",
            f"| Batches of that burst: jobs, claimed -> ended (s after the first site row) | "
            f"{_timeline(b['timeline'])} | - |",
            f"| Time in the batches' prepare step (system user, home, default page, vhost "
            f"render and check) | {b['prepare_s']:.1f} s | - |",
            f"| php-fpm children at the peak of the burst (probes; ondemand, 10 s idle) | "
            f"{b['peak_children']} | - |",
            f"| {m['count']} more PHP sites beside {b['count'] + a['single'] + 1} -> all "
            f"active | {m['active']:.1f} s ({m['n_active']} active); {cmds(m)} | - |",
            f"| Idle master VmRSS, {r['n_pools']} pools / {r['n_pools10']} pools | "
            f"{rss[0] / 1024:.1f} MB / {rss10[0] / 1024:.1f} MB ({rss[0] / rss10[0]:.1f} x) "
            "| - |",
            f"| All php-fpm processes with {r['n_pools']} pools (RSS sum, children) | "
            f"{rss[1] / 1024:.1f} MB, {rss[2]} children | no children (ondemand) |",
            f"| `php-fpm -t`, {r['n_pools']} / {r['n_pools10']} pools (median of 5) | "
            f"{fpm_t[0] * 1000:.0f} ms / {fpm_t[1] * 1000:.0f} ms ({fpm_t[0] / fpm_t[1]:.1f} x)"
            " | - |",
            f"| php-fpm reload (USR2 -> ready), {r['n_pools']} / {r['n_pools10']} pools "
            f"(median of 3) | {fpm_r[0] * 1000:.0f} ms / {fpm_r[1] * 1000:.0f} ms "
            f"({fpm_r[0] / fpm_r[1]:.1f} x) | - |",
            f"| First request to a cold pool / warm request, p50 over {cold[2]} sites | "
            f"{cold[0] * 1000:.1f} ms / {cold[1] * 1000:.1f} ms ({cold[0] / cold[1]:.1f} x) | - |",
            "",
            f"Pools counted are the sites' pool files ({r['n_pools']} with all sites created); "
            "each master also has its own idle pool. The 10-pool master is a second master "
            "with copies of 10 of the same pool files (own sockets), measured alternately "
            "with the big one in the same run.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=15, help="single-site runs per runtime")
    parser.add_argument("--burst", type=int, default=500, help="PHP sites created at once")
    parser.add_argument("--total", type=int, default=1000, help="idle PHP sites for part 3")
    parser.add_argument("--cold", type=int, default=20, help="cold pools to request")
    parser.add_argument("--burst-timeout", type=int, default=300, help="seconds")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/tenancy.py needs root: it creates system users and php-fpm pools.")
        return 2

    bench = Bench(args)
    atexit.register(bench.cleanup)
    # SIGTERM (and SIGHUP) end the run like Ctrl-C does: through the clean-up below.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    section = ""
    try:
        bench.start()
        results = bench.run()
        section = render(results)
    finally:
        bench.cleanup()
    print("\n" + section)
    if not args.no_write:
        write_section(section)
        log(f"results written to {DOCS.relative_to(ROOT)} (section Tenancy)")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
