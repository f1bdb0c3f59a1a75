"""Page benchmark: median server time of every page with 1,000 rows and at full size.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/np_bench uv run python bench/pages.py

The database named in DATABASE_URL is DROPPED and re-created with two schemas, each migrated:
`small` with 1,000 rows per table and `large` with 20,000 sites, 200,000 jobs and 1,000,000 audit
rows (INSERT ... SELECT generate_series: seconds, not minutes). Every page is then requested
alternately against one schema and the other (search_path), so that load from anything else on
the machine hits both sides alike, and the medians are printed side by side with their ratio.
Requests go through Django's test Client in-process (the whole middleware stack, templates
included, no network), as an admin and as a regular user. Last, the whole audit log is exported
as CSV from each side (time, rows per second, Python memory peak: the export streams from a
server-side cursor, so memory must not grow with the log). Results replace the "Pages" section
of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.docs_section import database_label, run_facts, write_section  # noqa: E402

SMALL = {"users": 100, "sites": 1_000, "jobs": 1_000, "audit": 1_000}
LARGE = {"users": 2_000, "sites": 20_000, "jobs": 200_000, "audit": 1_000_000}
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
TARGET_RATIO, TARGET_MS = 1.5, 150.0


SCHEMAS = {"small": SMALL, "large": LARGE}
ACTIVE = {"schema": "public"}


def _set_search_path(sender=None, connection=None, **kwargs) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET search_path TO {ACTIVE['schema']}, public")


def use_schema(name: str) -> None:
    """Point the (persistent) connection at one data set; new connections follow too."""
    from django.db import connection

    ACTIVE["schema"] = name
    if connection.connection is not None:
        _set_search_path(connection=connection)


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "template1"):
        raise SystemExit("DATABASE_URL must name a scratch database (it is dropped), e.g. np_bench")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    # Extensions the migrations ask for go to `public`, shared by both data-set schemas (a
    # migration's CREATE EXTENSION would otherwise land in whichever schema migrated first).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")


# Each statement adds the rows numbered (lo, hi] so the large phase extends the small one.
# Users u<n> own sites round-robin; site n has jobs n, n+S, n+2S, ... and audit rows likewise.
FILL_SQL = {
    "users": """
        INSERT INTO users (id, username, password_hash, role, is_active, created_at, updated_at)
        SELECT gen_random_uuid(), 'u' || g, '!', 'user', true, now(), now()
        FROM generate_series(%(lo)s + 1, %(hi)s) g
    """,
    "sites": """
        WITH owners AS (
            SELECT array_agg(id ORDER BY username) AS ids, count(*) AS n
            FROM users WHERE role = 'user' AND username <> 'bench-user'
        )
        INSERT INTO sites (id, domain, root_path, runtime, status, created_by, created_at,
                           updated_at)
        SELECT gen_random_uuid(), 'site' || g || '.example.com', '/srv/www/site' || g,
               (ARRAY['static', 'php', 'proxy'])[1 + g %% 3],
               CASE WHEN g %% 50 = 0 THEN 'failed' WHEN g %% 97 = 0 THEN 'provisioning'
                    ELSE 'active' END,
               o.ids[1 + g %% o.n], now() - (g || ' minutes')::interval, now()
        FROM owners o, generate_series(%(lo)s + 1, %(hi)s) g
    """,
    "certificates": """
        INSERT INTO ssl_certificates (id, site_id, provider, status, expires_at, created_at,
                                      updated_at)
        SELECT gen_random_uuid(), s.id, 'letsencrypt',
               CASE WHEN s.n %% 40 = 0 THEN 'failed' ELSE 'issued' END,
               now() + ((s.n %% 90) || ' days')::interval, now(), now()
        FROM (SELECT id, substring(domain from 5 for position('.' in domain) - 5)::int AS n
              FROM sites WHERE domain LIKE 'site%%') s
        WHERE s.n > %(lo)s AND s.n <= %(hi)s AND s.n %% 5 <> 0
    """,
    "jobs": """
        WITH a AS (
            SELECT array_agg(id ORDER BY domain) AS ids,
                   array_agg(created_by ORDER BY domain) AS owners, count(*) AS n
            FROM sites WHERE domain LIKE 'site%%'
        )
        INSERT INTO jobs (id, type, status, payload, error_message, started_at, finished_at,
                          created_at, site_id, created_by, log)
        SELECT gen_random_uuid(),
               (ARRAY['site.provision', 'ssl.issue', 'ssl.renew', 'site.provision'])[1 + g %% 4],
               CASE WHEN g %% 25 = 0 THEN 'failed' ELSE 'success' END,
               jsonb_build_object('domain', 'site' || g || '.example.com', 'runtime', 'static'),
               CASE WHEN g %% 25 = 0 THEN 'nginx: [emerg] test failure' END,
               now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval,
               now() - (g || ' seconds')::interval, a.ids[1 + g %% a.n], a.owners[1 + g %% a.n],
               '[{"at": "2026-01-01T00:00:00+00:00", "msg": "attempt 1 started"}]'::jsonb
        FROM a, generate_series(%(lo)s + 1, %(hi)s) g
    """,
    "audit": """
        WITH a AS (
            SELECT array_agg(id ORDER BY domain) AS ids,
                   array_agg(created_by ORDER BY domain) AS owners, count(*) AS n
            FROM sites WHERE domain LIKE 'site%%'
        )
        INSERT INTO audit_logs (actor_user_id, action, target_type, target_id, metadata,
                                created_at)
        SELECT a.owners[1 + g %% a.n],
               (ARRAY['site.create', 'ssl.issue', 'job.success'])[1 + g %% 3],
               'site', a.ids[1 + g %% a.n]::text, jsonb_build_object('n', g),
               now() - (g || ' seconds')::interval
        FROM a, generate_series(%(lo)s + 1, %(hi)s) g
    """,
}


def fill(previous: dict[str, int], target: dict[str, int]) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table, key in (
            ("users", "users"),
            ("sites", "sites"),
            ("certificates", "sites"),
            ("jobs", "jobs"),
            ("audit", "audit"),
        ):
            cursor.execute(FILL_SQL[table], {"lo": previous.get(key, 0), "hi": target[key]})
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def setup_people():
    """The measured admin and a user who owns ten sites (the default quota) with their history."""
    from django.db import connection

    from panel.accounts.models import Role, User

    admin = User.objects.create_user("bench-admin", "!", role=Role.ADMIN)
    user = User.objects.create_user("bench-user", "!", role=Role.USER)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sites (id, domain, root_path, runtime, status, created_by, created_at,
                               updated_at)
            SELECT gen_random_uuid(), 'mine' || g || '.example.net', '/srv/www/mine' || g,
                   'static', 'active', %s, now(), now()
            FROM generate_series(1, 10) g
            """,
            [user.pk],
        )
        cursor.execute(
            """
            INSERT INTO jobs (id, type, status, payload, created_at, site_id, created_by)
            SELECT gen_random_uuid(), 'site.provision', 'success', '{}', now(), s.id, %s
            FROM sites s, generate_series(1, 5) g WHERE s.created_by = %s
            """,
            [user.pk, user.pk],
        )
        cursor.execute(
            """
            INSERT INTO audit_logs (actor_user_id, action, target_type, target_id, created_at)
            SELECT %s, 'site.create', 'site', s.id::text, now()
            FROM sites s WHERE s.created_by = %s
            """,
            [user.pk, user.pk],
        )
        # The daily renewal schedule ran an hour ago (the admin dashboard shows it).
        cursor.execute(
            """
            INSERT INTO audit_logs (action, target_type, target_id, metadata, created_at)
            VALUES ('ssl.renewal_run', 'schedule', 'ssl-renewal', '{}', now() - interval '1 hour')
            """
        )
    return admin, user


def pages(admin, user) -> list[tuple[str, object, str]]:
    from panel.jobs.models import Job
    from panel.sites.models import Site

    site = Site.objects.filter(domain="site500.example.com").first()
    job = Job.objects.filter(site_id=site.pk).first()
    my_site = Site.objects.filter(created_by=user).order_by("domain").first()
    my_job = Job.objects.filter(site_id=my_site.pk).first()
    return [
        ("dashboard (admin)", admin, "/"),
        ("dashboard (user)", user, "/"),
        ("sites (admin)", admin, "/sites/"),
        ("sites (user)", user, "/sites/"),
        ("sites search (admin)", admin, "/sites/?q=site777"),
        ("sites search (user)", user, "/sites/?q=mine7"),
        ("sites status filter (admin)", admin, "/sites/?status=failed"),
        ("certificates (admin)", admin, "/certificates/"),
        ("certificates (user)", user, "/certificates/"),
        ("jobs (admin)", admin, "/jobs/"),
        ("jobs failed (admin)", admin, "/jobs/?status=failed"),
        ("jobs (user)", user, "/jobs/"),
        ("audit (admin)", admin, "/audit/"),
        ("site detail (admin)", admin, f"/sites/{site.pk}/"),
        ("site detail (user)", user, f"/sites/{my_site.pk}/"),
        ("job detail (admin)", admin, f"/jobs/{job.pk}/"),
        ("job detail (user)", user, f"/jobs/{my_job.pk}/"),
    ]


def measure(plan_small, plan_large):
    """Alternate small and large for every page; median per side and the queries per request."""
    from django.db import connection, reset_queries
    from django.test import Client

    sides = {"small": plan_small, "large": plan_large}
    clients: dict[tuple[str, object], Client] = {}

    def get(side: str, who, url: str) -> tuple[int, float, int]:
        use_schema(side)
        client = clients.get((side, who.pk))
        if client is None:
            client = clients[side, who.pk] = Client()
            client.force_login(who)
        reset_queries()
        started = time.perf_counter()
        status = client.get(url).status_code
        elapsed = (time.perf_counter() - started) * 1000
        return status, elapsed, len(connection.queries)

    results: dict[str, dict[str, tuple[float | None, int]]] = {"small": {}, "large": {}}
    for i, (label, *_rest) in enumerate(plan_small):
        times: dict[str, list[float]] = {"small": [], "large": []}
        queries: dict[str, int] = {}
        failed = {}
        for side in sides:  # warm-up: template compilation, connection, caches
            _, who, url = sides[side][i]
            status, _, _ = get(side, who, url)
            if status != 200:
                failed[side] = status
        if failed:
            for side in sides:
                results[side][label] = (None, failed.get(side, 200))
            continue
        for _ in range(REPEAT):
            for side in sides:
                _, who, url = sides[side][i]
                _, elapsed, queries[side] = get(side, who, url)
                times[side].append(elapsed)
        for side in sides:
            results[side][label] = (statistics.median(times[side]), queries[side])
        small_ms, large_ms = results["small"][label][0], results["large"][label][0]
        print(f"  {label:28} {small_ms:7.1f} ms {large_ms:7.1f} ms", flush=True)
    return results["small"], results["large"]


def measure_export(plans) -> dict[str, tuple[int, float, float]]:
    """Stream /audit/export.csv (every row) on each side: (rows, seconds, memory peak in MB).
    Timed without tracemalloc (it slows Python down), then once more traced for the peak."""
    import tracemalloc

    from django.test import Client

    results = {}
    for side, plan in plans.items():
        use_schema(side)
        client = Client()
        client.force_login(plan[0][1])  # the admin of the first page

        def stream() -> int:
            response = client.get("/audit/export.csv")
            assert response.status_code == 200, response.status_code
            return sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1

        started = time.perf_counter()
        rows = stream()
        elapsed = time.perf_counter() - started
        tracemalloc.start()
        stream()
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        results[side] = (rows, elapsed, peak)
        print(f"  export {side}: {rows:,} rows in {elapsed:.2f} s, peak {peak:.1f} MB", flush=True)
    return results


def report(small, large, counts, load_s, export, facts: str = "") -> str:
    lines = [
        "## Pages",
        "",
        "`uv run python bench/pages.py` (DATABASE_URL to a scratch PostgreSQL database). Median "
        f"server time of {REPEAT} requests per page through Django's test Client in-process "
        "(middleware, view, template; no network), with 1,000 rows per table and at full size "
        f"({counts['sites']:,} sites, {counts['jobs']:,} jobs, {counts['audit']:,} audit rows; "
        f"bulk load {load_s:.0f} s). Target: at most {TARGET_RATIO}x and under "
        f"{TARGET_MS:.0f} ms. Queries are per request (the same at both sizes).",
        "",
        facts,
        "",
        "| page | 1,000 rows | full size | ratio | queries | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, (ms_small, q_small) in small.items():
        ms_large, q_large = large[label]
        if ms_small is None or ms_large is None:
            lines.append(f"| {label} | HTTP {q_small} | HTTP {q_large} | | | not measured |")
            continue
        ratio = ms_large / ms_small
        ok = ratio <= TARGET_RATIO and ms_large < TARGET_MS
        queries = str(q_small) if q_small == q_large else f"{q_small} -> {q_large}"
        lines.append(
            f"| {label} | {ms_small:.1f} ms | {ms_large:.1f} ms | {ratio:.2f}x | {queries} "
            f"| {'ok' if ok else 'SLOW'} |"
        )
    lines += ["", "Audit log export (`/audit/export.csv`, every row, streamed):", ""]
    lines += ["| rows | time | rows per second | Python memory peak |", "|---:|---:|---:|---:|"]
    for rows, seconds, peak in export.values():
        lines.append(
            f"| {rows:,} | {seconds * 1000:,.0f} ms | {rows / seconds:,.0f} | {peak:.1f} MB |"
        )
    (rows_s, secs_s, peak_s), (rows_l, secs_l, peak_l) = export["small"], export["large"]
    lines += [
        "",
        f"Time per row at full size is {(secs_l / rows_l) / (secs_s / rows_s):.2f}x that at "
        f"1,000 rows, and the memory peak {peak_l / peak_s:.1f}x for {rows_l / rows_s:,.0f}x the "
        "rows.",
    ]
    lines += [
        "",
        "How the lists are queried: no `COUNT(*)` (a page fetches one row more than it shows), the",
        "newest jobs of all statuses are merged from one short scan per status of the seed's",
        "`jobs_status_created_at_idx`, a user's jobs are an OR of the `created_by` and `site_id`",
        "indexes, certificate pages sort the certificates alone before joining their sites, a",
        "site's audit trail reads `audit_logs_target_idx` and domain search the `pg_trgm` index",
        "`sites_domain_trgm_idx`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a scratch PostgreSQL database, e.g. .../np_bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nusantara.settings")
    os.environ.setdefault("DEBUG", "True")  # the embedded setup; the settings default is off
    os.environ.setdefault("AXES_ENABLED", "False")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    # One connection for the whole run: the schema switch is a session setting.
    os.environ["CONN_MAX_AGE"] = "3600"
    recreate_database(url)

    import django
    from django.core.management import call_command
    from django.db import connection
    from django.db.backends.signals import connection_created

    django.setup()
    connection_created.connect(_set_search_path)
    plans, loads = {}, {}
    for name, size in SCHEMAS.items():
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {name}")
        use_schema(name)
        print(f"loading {name}: {size}", flush=True)
        call_command("migrate", verbosity=0)
        admin, user = setup_people()
        loads[name] = fill({}, size)
        plans[name] = pages(admin, user)
    print(f"measuring {len(plans['small'])} pages, {REPEAT} times each side ...", flush=True)
    small, large = measure(plans["small"], plans["large"])
    export = measure_export(plans)
    from django.conf import settings

    facts = run_facts(debug=settings.DEBUG, database=database_label())
    text = report(small, large, LARGE, loads["large"], export, facts)
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
