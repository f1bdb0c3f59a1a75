"""Orchestration for bench/load.py: fresh database, private nginx, gunicorn, worker, locust."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
sys.path.insert(0, str(ROOT))

from bench.docs_section import DOCS, write_section  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def fresh_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def start(cmd: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen:
    fh = open(logfile, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def private_nginx(work: Path, port: int) -> tuple[list[str], str, str]:
    """A private nginx whose config includes the vhost dir; returns (start argv, test, reload)."""
    vhosts = work / "nginx" / "sites"
    vhosts.mkdir(parents=True)
    (work / "nginx" / "logs").mkdir()
    conf = work / "nginx" / "nginx.conf"
    conf.write_text(
        f"pid {work}/nginx/nginx.pid;\nerror_log {work}/nginx/logs/error.log warn;\n"
        "worker_processes 1;\nevents { worker_connections 512; }\n"
        "http {\n  include /etc/nginx/mime.types;\n  access_log off;\n"
        "  server_names_hash_bucket_size 512;\n"
        + "".join(f"  {k}_temp_path {work}/nginx/{k};\n" for k in ("client_body", "proxy"))
        + "".join(f"  {k}_temp_path {work}/nginx/{k};\n" for k in ("fastcgi", "uwsgi", "scgi"))
        + f"  server {{ listen 127.0.0.1:{port} default_server; return 404; }}\n"
        f"  include {vhosts}/*.conf;\n}}\n"
    )
    prefix = ["-p", str(work / "nginx"), "-c", str(conf)]
    test = " ".join([NGINX, "-t", "-q", *prefix])
    reload = " ".join([NGINX, "-s", "reload", *prefix])
    return [NGINX, *prefix], test, reload


def wait_http(url: str, host: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, headers={"Host": host})  # noqa: S310
            urllib.request.urlopen(req, timeout=2)  # noqa: S310
            return
        except urllib.error.HTTPError:
            return  # it answers (503 while the worker has not beaten yet is fine)
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


CREATE_USERS = """
from django.contrib.auth.hashers import make_password
from panel.accounts.models import User
hashed = make_password({password!r})
User.objects.bulk_create(
    [User(username=f"{prefix}{{i:03d}}", password=hashed, role="user") for i in range(1, {n} + 1)]
)
"""

SESSIONS = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from panel.accounts.models import User
keys = []
for user in User.objects.filter(username__startswith={prefix!r}).order_by("username"):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    keys.append(session.session_key)
print(json.dumps(keys))
"""

JOB_STATS = """
import json
from django.db.models import Count
from panel.jobs.models import Job
from panel.sites.models import Site
print(json.dumps({{
    "jobs": dict(Job.objects.values_list("status").annotate(n=Count("id"))),
    "sites": dict(Site.objects.values_list("status").annotate(n=Count("id"))),
    "errors": list(Job.objects.filter(status="failed").values_list("error_message", flat=True)[:5]),
}}))
"""


SERVICE_TIME = """
import json, time
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from panel.accounts.models import User
user = User.objects.filter(username__startswith={prefix!r}, sites__isnull=False).first()
client = Client()
client.force_login(user)
site = user.sites.first()
out = {{}}
for name, path in [("/", "/"), ("/sites/", "/sites/"), ("/sites/[id]/", f"/sites/{{site.pk}}/"),
                   ("/jobs/", "/jobs/"), ("/certificates/", "/certificates/"),
                   ("/sites/new/", "/sites/new/")]:
    client.get(path)
    started = time.perf_counter()
    for _ in range(10):
        client.get(path)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    out[name] = [round((time.perf_counter() - started) / 10 * 1000, 1), len(queries)]
print(json.dumps(out))
"""


def service_times(env: dict[str, str], prefix: str) -> dict[str, list]:
    """Per page: in-process time of one request alone (ms) and its number of SQL queries."""
    shell_env = {**env, "ALLOWED_HOSTS": "testserver"}
    out = manage(shell_env, "shell", "-c", SERVICE_TIME.format(prefix=prefix))
    return json.loads(out.strip().splitlines()[-1])


def job_stats(env: dict[str, str]) -> dict:
    return json.loads(manage(env, "shell", "-c", JOB_STATS.format()).strip().splitlines()[-1])


def time_logins(base: str, password: str, prefix: str, n: int = 3) -> float:
    """Median time of n sequential real logins (GET form, POST credentials), for the report."""
    import statistics

    import requests

    times = []
    for i in range(1, n + 1):
        with requests.Session() as s:
            s.get(f"{base}/accounts/login/", timeout=30)
            started = time.perf_counter()
            r = s.post(
                f"{base}/accounts/login/",
                data={
                    "username": f"{prefix}{i:03d}",
                    "password": password,
                    "csrfmiddlewaretoken": s.cookies.get("csrftoken", ""),
                },
                timeout=30,
                allow_redirects=False,
            )
            times.append((time.perf_counter() - started) * 1000)
            if r.status_code != 302:
                raise SystemExit(f"login as {prefix}{i:03d} failed: HTTP {r.status_code}")
    return statistics.median(times)


def read_stats(prefix: Path) -> tuple[dict, list[dict]]:
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    return total, [r for r in rows if r["Name"] != "Aggregated"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--no-write", action="store_true", help="do not update docs")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from load import PASSWORD, USER_PREFIX

    db_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/np_load")
    work = Path(tempfile.mkdtemp(prefix="np-load-"))
    web_port, nginx_port = free_port(), free_port()
    nginx_start, nginx_test, nginx_reload = private_nginx(work, nginx_port)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NUSANTARA_", "DJANGO_"))},
        "DATABASE_URL": db_url,
        "DEBUG": "False",
        "SECRET_KEY": os.urandom(24).hex(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "SESSION_COOKIE_SECURE": "False",
        "CSRF_COOKIE_SECURE": "False",
        "SECURE_HSTS_SECONDS": "0",
        "NUSANTARA_DATA_DIR": str(work / "data"),
        "NUSANTARA_WEB_ROOT": str(work / "www"),
        "NUSANTARA_NGINX_CONF_DIR": str(work / "nginx" / "sites"),
        "NUSANTARA_NGINX_TEST_CMD": nginx_test,
        "NUSANTARA_NGINX_RELOAD_CMD": nginx_reload,
        "NUSANTARA_HTTP_LISTEN": f"127.0.0.1:{nginx_port}",
        "NUSANTARA_MAX_SITES_PER_USER": "100000",
        # Throughput, not the brakes: the per-account limits would stop a burst.
        "NUSANTARA_RATE_ACCOUNT_SITES": "off",
        "NUSANTARA_RATE_ACCOUNT_JOBS": "off",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "GUNICORN_ACCESSLOG": "/dev/null",
        "LOG_LEVEL": "WARNING",
        "Q_WORKERS": os.environ.get("Q_WORKERS", "2"),
    }
    env.pop("REDIS_URL", None)
    log(f"fresh database {db_url.rpartition('/')[2]}, state in {work}")
    fresh_database(db_url)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(
        env, "shell", "-c", CREATE_USERS.format(password=PASSWORD, prefix=USER_PREFIX, n=args.users)
    )
    sessions = manage(env, "shell", "-c", SESSIONS.format(prefix=USER_PREFIX)).strip()
    env["BENCH_SESSIONS"] = sessions.splitlines()[-1]
    procs: list[subprocess.Popen] = []
    try:
        subprocess.run(nginx_start, check=True)
        gunicorn = [PY, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
        procs.append(start(gunicorn, env, work / "web.log"))
        procs.append(start([PY, "manage.py", "qcluster"], env, work / "worker.log"))
        base = f"http://127.0.0.1:{web_port}"
        wait_http(f"{base}/healthz", "127.0.0.1")
        login_ms = time_logins(base, PASSWORD, USER_PREFIX, n=min(3, args.users))
        log(f"gunicorn on {base}, nginx on 127.0.0.1:{nginx_port}; login {login_ms:.0f} ms")
        prefix = work / "locust"
        load_before = os.getloadavg()[0]
        subprocess.run(
            [
                PY, "-m", "locust", "-f", str(ROOT / "bench" / "load.py"), "--headless",
                "-u", str(args.users), "-r", str(max(1, args.users // 5)),
                "-t", f"{args.duration}s", "--host", base, "--csv", str(prefix),
                "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
            ],
            cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, check=False,
        )  # fmt: skip
        load_after = os.getloadavg()[0]
        total, rows = read_stats(prefix)
        log("waiting for the worker to finish the queued jobs")
        deadline = time.monotonic() + 120
        stats = job_stats(env)
        while time.monotonic() < deadline and (
            stats["jobs"].get("queued", 0) + stats["jobs"].get("running", 0)
        ):
            time.sleep(2)
            stats = job_stats(env)
        vhosts = len(list((work / "nginx" / "sites").glob("*.conf")))
        alone = service_times(env, USER_PREFIX)
    finally:
        for proc in procs:
            stop(proc)
        subprocess.run([*nginx_start, "-s", "stop"], check=False, capture_output=True)
    result = summarize(
        total, rows, stats, vhosts, args, env, login_ms, (load_before, load_after), alone
    )
    print(result)
    if not args.no_write:
        write_section(result)
        log(f"results written to {DOCS.relative_to(ROOT)} (section Load)")
    shutil.rmtree(work, ignore_errors=True)
    failures = int(total["Failure Count"]) + stats["jobs"].get("failed", 0)
    return 0 if failures == 0 else 1


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", text).group(1)
    except (OSError, AttributeError):
        model = platform.processor() or "unknown CPU"
    return f"{os.cpu_count()} × {model}"


def summarize(
    total: dict,
    rows: list[dict],
    stats: dict,
    vhosts: int,
    args,
    env,
    login_ms: float,
    load: tuple[float, float],
    alone: dict[str, list],
) -> str:
    p95 = float(total["95%"])
    lines = [
        "## Load",
        "",
        f"`uv run python bench/load.py` on {dt.date.today().isoformat()}: {args.users} concurrent "
        f"logged-in users (locust, 1-3 s think time) for {args.duration} s against gunicorn "
        "(`deploy/gunicorn.conf.py`, gthread; users signed in beforehand) on "
        "`np_load` (created fresh), django-q2 ORM broker, one `qcluster` "
        f"({env['Q_WORKERS']} processes) provisioning "
        "every site into a private nginx that is really tested (`nginx -t`) and reloaded. "
        f"Machine: {_cpu()}; 1-minute load average {load[0]:.1f} before the run and "
        f"{load[1]:.1f} after it (the run's own load included).",
        "",
        "| metric | value |",
        "|---|---|",
        f"| requests | {total['Request Count']} ({float(total['Requests/s']):.1f}/s) |",
        f"| errors | {total['Failure Count']} |",
        f"| median | {float(total['50%']):.0f} ms |",
        f"| p95 | **{p95:.0f} ms** (target < 300 ms: {'met' if p95 < 300 else 'NOT met'}) |",
        f"| p99 | {float(total['99%']):.0f} ms |",
        f"| max | {float(total['Max Response Time']):.0f} ms |",
        f"| sites created | {sum(stats['sites'].values())} ({_fmt(stats['sites'])}) |",
        f"| jobs after the run | {_fmt(stats['jobs'])} |",
        f"| vhosts in nginx | {vhosts} |",
        f"| one login (PBKDF2, measured apart, not in the run) | {login_ms:.0f} ms |",
        "",
        f"DEBUG: {env.get('DEBUG', 'False')} (the server's environment). "
        f"Database: {env.get('DATABASE_LABEL', env.get('DATABASE_URL', '').split('/')[-1])}.",
        "",
        "Per request: what locust saw under load, and (last columns) the same page requested "
        "alone, in-process after the run: its server time and SQL queries.",
        "",
        "| request | count | errors | median ms | p95 ms | p99 ms | alone ms | queries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["Name"]):
        single = alone.get(r["Name"]) if r["Type"] == "GET" else None
        extra = f"{single[0]:.0f} | {single[1]}" if single else "- | -"
        lines.append(
            f"| {r['Type']} {r['Name']} | {r['Request Count']} | {r['Failure Count']} | "
            f"{float(r['50%']):.0f} | {float(r['95%']):.0f} | {float(r['99%']):.0f} | {extra} |"
        )
    if stats.get("errors"):
        lines += ["", "Failed job messages (first 5): " + "; ".join(stats["errors"])]
    return "\n".join(lines) + "\n"


def _fmt(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
