"""Nodes benchmark: 500 sites over two nodes at once vs 500 sites on one node, same run.

    uv run python bench/nodes.py [--burst 500] [--no-write]

Creates the database `np_bench_nodes` afresh on the local PostgreSQL (BENCH_DATABASE_URL to
change), starts a private redis-server (the scale-out broker every node shares) and three nodes
on this machine, each a private nginx on its own loopback ports and directories plus one
`qcluster` started with NUSANTARA_NODE=<name> and its own NUSANTARA_* paths:

- one node: `--burst` static sites created at once (8 threads) on node `solo`; time until all
  are `active`;
- two nodes: `--burst` sites created at once, alternating between `node-a` and `node-b`; time
  until all are `active`;

in four rounds, one - two - two - one, so that neither setup meets more existing sites, vhosts
or machine load than the other; the medians are compared.

The ratio two-nodes / one-node is the result (target: <= 1.0, two nodes no slower than one).
All three nodes run on the same machine and share its CPUs: this cannot show the speed-up of
separate servers, only what routing and per-node batching cost on one machine.
Results are printed and written to docs/benchmarks.md, section "Nodes".
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "np_bench_nodes"
sys.path.insert(0, str(ROOT))

from bench.docs_section import DOCS, run_facts, write_section  # noqa: E402

NODES = ("solo", "node-a", "node-b")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _database_url() -> str:
    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return f"{base}/{DB_NAME}"


def _drop_database(url: str) -> None:
    import psycopg

    base = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _node_env(svc) -> dict[str, str]:
    return {
        "NUSANTARA_DATA_DIR": str(svc.data_dir),
        "NUSANTARA_WEB_ROOT": str(svc.web_root),
        "NUSANTARA_NGINX_CONF_DIR": str(svc.conf_dir),
        "NUSANTARA_NGINX_TEST_CMD": svc.test_cmd,
        "NUSANTARA_NGINX_RELOAD_CMD": svc.reload_cmd,
        "NUSANTARA_HTTP_LISTEN": f"127.0.0.1:{svc.http_port}",
        "NUSANTARA_HTTPS_LISTEN": f"127.0.0.1:{svc.https_port}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=500, help="sites created at once")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    args = parser.parse_args()

    from tests.ops.faults import Redis
    from tests.services.nginx import free_port, start_nginx, stop_nginx

    if shutil.which("redis-server") is None:
        log("redis-server is not installed")
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="np-bench-nodes-"))
    scratch.chmod(0o755)
    nginx = {node: start_nginx(scratch / node) for node in NODES}
    redis = Redis(port=free_port())
    redis.start()
    db_url = _database_url()
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis.url,
        # This process is node `solo`: the migration makes it the local node.
        "NUSANTARA_NODE": "solo",
        **_node_env(nginx["solo"]),
        "NUSANTARA_ISOLATION": "off",  # static sites as the panel's user: no system users
        "NUSANTARA_MAX_SITES_PER_USER": "100000",
        "NUSANTARA_RATE_ACCOUNT_SITES": "off",
        "NUSANTARA_RATE_ACCOUNT_JOBS": "off",
        # One SECRET_KEY on every node: django-q2 signs each task with it, and a worker whose
        # key differs drops the task as forged (the embedded default generates one per data dir).
        "SECRET_KEY": "bench-nodes-" + os.urandom(16).hex(),
        "DJANGO_SETTINGS_MODULE": "nusantara.settings",
        "DEBUG": os.environ.get("DEBUG", "True"),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    workers = []
    try:
        from panel.accounts.models import Role, User
        from panel.nodes.services import node_create

        admin = User.objects.create_user("bench-admin", role=Role.ADMIN)
        for node in ("node-a", "node-b"):
            node_create(user=admin, name=node, address="127.0.0.1")
        for node in NODES:
            log_file = open(scratch / f"worker-{node}.log", "wb")  # noqa: SIM115
            workers.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env={**os.environ, "NUSANTARA_NODE": node, **_node_env(nginx[node])},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        results = run(args, admin, nginx)
    finally:
        for proc in workers:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for svc in nginx.values():
            stop_nginx(svc)
        redis.stop()
        from django.db import connections

        connections.close_all()
        _drop_database(db_url)
        shutil.rmtree(scratch, ignore_errors=True)
    section = render(results)
    print("\n" + section)
    if not args.no_write:
        write_section(section)
        log(f"results written to {DOCS.relative_to(ROOT)} (section Nodes)")
    return 0 if results["ok"] else 1


def _wait_up(timeout: float = 60) -> None:
    from panel.nodes.models import Node

    deadline = time.monotonic() + timeout
    while Node.objects.filter(name__in=NODES, last_heartbeat_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("a node's worker did not report within 60 s")
        time.sleep(0.2)


def burst(admin, prefix: str, nodes: list[str], n: int) -> dict:
    """n sites at once (8 threads), node i % len(nodes); time until all are active."""
    from django.db import close_old_connections
    from django.db.models import Count

    from panel.jobs.models import Job
    from panel.sites.models import Runtime, Site, SiteStatus
    from panel.sites.services import site_create

    before = set(Job.objects.values_list("pk", flat=True))

    def create(i: int) -> None:
        try:
            site_create(
                user=admin,
                domain=f"{prefix}{i}.bench.example",
                runtime=Runtime.STATIC,
                node=nodes[i % len(nodes)],
            )
        finally:
            close_old_connections()

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(n)))
    created = time.monotonic() - start
    sites = Site.objects.filter(domain__startswith=prefix)
    ok = True
    while sites.filter(status=SiteStatus.ACTIVE).count() < n:
        if time.monotonic() - start > 300 or sites.filter(status=SiteStatus.FAILED).exists():
            ok = False
            break
        time.sleep(0.05)
    active = time.monotonic() - start
    summary = re.compile(r"nginx: (\d+) change\(s\) in this batch, (\d+) test run\(s\), (\w+).*")
    seen, reloads = set(), 0
    for job in Job.objects.exclude(pk__in=before).only("log"):
        for line in job.log:
            m = summary.search(line["msg"])
            if m and m.group(0) not in seen:  # every job of a batch carries the same line
                seen.add(m.group(0))
                reloads += m.group(3) == "reloaded"
    per_node = dict(
        Job.objects.exclude(pk__in=before).values_list("node__name").annotate(n=Count("id"))
    )
    return {
        "created": created,
        "active": active,
        "n_active": sites.filter(status=SiteStatus.ACTIVE).count(),
        "batches": len(seen),
        "reloads": reloads,
        "per_node": per_node,
        "ok": ok,
    }


def run(args, admin, nginx) -> dict:
    """Rounds in the order one, two, two, one: each setup sees as many existing sites and vhosts
    before it as the other, and a machine that warms up or gets busier favours neither."""
    res: dict = {"args": vars(args), "load_start": os.getloadavg()[0], "one": [], "two": []}
    _wait_up()
    for round_no, setup in enumerate(("one", "two", "two", "one")):
        nodes = ["solo"] if setup == "one" else ["node-a", "node-b"]
        log(f"round {round_no + 1}: {args.burst} sites at once on {' + '.join(nodes)}")
        result = burst(admin, f"{setup}{round_no}x", nodes, args.burst)
        res[setup].append(result)
        log(
            f"  all active after {result['active']:.1f} s (rows created in "
            f"{result['created']:.1f} s), {result['batches']} batches"
        )
    for setup in ("one", "two"):
        rounds = res[setup]
        res[f"{setup}_active"] = statistics.median(r["active"] for r in rounds)
        res[f"{setup}_drain"] = statistics.median(r["active"] - r["created"] for r in rounds)
    res["ratio"] = res["two_active"] / res["one_active"]
    res["drain_ratio"] = res["two_drain"] / res["one_drain"]
    log(f"  ratio two/one {res['ratio']:.2f} (after the last row: {res['drain_ratio']:.2f})")
    # Each site is served by its own node's nginx only (two-node round 2: even i on node-a).
    sample = range(0, args.burst, max(1, args.burst // 20))
    res["served_right"] = all(
        nginx[own].get(f"two1x{i}.bench.example").status == 200
        and nginx[other].get(f"two1x{i}.bench.example").status == 404
        for i in sample
        for own, other in [("node-a", "node-b") if i % 2 == 0 else ("node-b", "node-a")]
    )
    res["ok"] = all(r["ok"] for r in res["one"] + res["two"]) and res["served_right"]
    return res


def render(r: dict) -> str:
    burst = r["args"]["burst"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    verdict = "meets target" if r["ratio"] <= 1.0 else "MISSES target"

    def cells(setup: str, key: str, fmt: str = "{:.1f} s") -> str:
        return " / ".join(fmt.format(x[key]) for x in r[setup])

    split = ", ".join(f"{k} {v}" for k, v in sorted(r["two"][0]["per_node"].items()))
    return "\n".join(
        [
            "## Nodes",
            "",
            f"`uv run python bench/nodes.py`, run {when}: three nodes on this machine, each a "
            "private nginx on its own loopback ports and directories plus one `qcluster` "
            "(2 worker processes) started with its own `NUSANTARA_NODE`, sharing one private "
            "redis-server and PostgreSQL; static sites, isolation off; `site_create()` from 8 "
            f"threads until every site is `active`. Rounds in the order one node, two nodes, two "
            f"nodes, one node ({burst} new sites each); medians of the two rounds.",
            "",
            run_facts(debug=os.environ.get("DEBUG", "False") == "True", database="PostgreSQL")
            + f" 1-minute load average at the start: {r['load_start']:.1f}.",
            "",
            "| Measure | One node (`solo`) | Two nodes (`node-a` + `node-b`) |",
            "| --- | --- | --- |",
            f"| {burst} sites created at once -> all active, median | {r['one_active']:.1f} s | "
            f"{r['two_active']:.1f} s |",
            f"| the two rounds | {cells('one', 'active')} | {cells('two', 'active')} |",
            f"| time to create the rows (8 threads) | {cells('one', 'created')} | "
            f"{cells('two', 'created')} |",
            f"| last row created -> all active, median | {r['one_drain']:.1f} s | "
            f"{r['two_drain']:.1f} s |",
            f"| nginx batches (= reloads) | {cells('one', 'batches', '{}')} | "
            f"{cells('two', 'batches', '{}')} |",
            f"| jobs per node | solo {burst} | {split} |",
            "",
            f"Ratio two nodes / one node: **{r['ratio']:.2f}** (target <= 1.0: two nodes no "
            f"slower than one; {verdict}); from the last row created to all active: "
            f"{r['drain_ratio']:.2f}. Every sampled site of a two-node round answered 200 on its "
            f"own node's nginx and 404 on the other's: {'yes' if r['served_right'] else 'NO'}. "
            "The three nodes share this machine's CPUs, so two nodes cannot show the speed-up of "
            "two servers here: the two nodes' batches (each with its own `nginx -t` and "
            "reload) run side by side on the same two cores.",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
