"""import_v0 / export_json: every bad row named and nothing imported; good files imported once,
with ids, timestamps and passwords kept; export -> import into an empty database loses nothing."""

from __future__ import annotations

import copy
import json
import stat
from datetime import datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from panel.accounts.models import User
from panel.audit.actions import AuditAction
from panel.audit.models import AuditLog
from panel.audit.services import audit_record
from panel.certificates.models import SslCertificate
from panel.databases.models import Database
from panel.jobs.models import Job
from panel.sites.models import Site, SiteDomain
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _v0_web_root(settings):
    # V0's sites live under /var/www; the panel accepts a root_path only where it would put it.
    settings.NUSANTARA_WEB_ROOT = Path("/var/www")


EXAMPLE = Path("/work/shared/seed/v0-example.json")
SEED = Path(__file__).resolve().parents[2] / "tests" / "ops" / "data" / "v0-example.json"
ALL = (User, Site, SslCertificate, Job, AuditLog)


def _example() -> dict:
    return json.loads(SEED.read_text(encoding="utf-8"))


def _with_unicode(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["users"].append(
        {
            "id": "0b9f5d3e-2a4c-4f0e-8d7e-5c6b7a8f9e03",
            "username": "wayan.sükma",
            "password_hash": data["users"][1]["password_hash"],
            "role": "user",
            "is_active": False,
            "created_at": "2026-07-01T08:00:00+08:00",
            "updated_at": "2026-07-02T08:00:00Z",
        }
    )
    data["sites"].append(
        {
            "id": "a3c1e4f2-4444-4a2b-9c3d-000000000004",
            "domain": "Kopi-Lüwak.CO.ID.",
            "root_path": "/var/www/kopi-lüwak.co.id",
            "runtime": "static",
            "status": "active",
            "created_by": "0b9f5d3e-2a4c-4f0e-8d7e-5c6b7a8f9e03",
            "created_at": "2026-07-01T09:00:00+08:00",
            "updated_at": "2026-07-01T09:00:05+08:00",
        }
    )
    data["audit_logs"].append(
        {
            "id": 9,
            "actor_user_id": "0b9f5d3e-2a4c-4f0e-8d7e-5c6b7a8f9e03",
            "action": "site.create",
            "target_type": "site",
            "target_id": "a3c1e4f2-4444-4a2b-9c3d-000000000004",
            "metadata": {"domain": "kopi-lüwak.co.id", "catatan": "Selamat datang ☕"},
            "created_at": "2026-07-01T09:00:00+08:00",
        }
    )
    return data


def _write(tmp_path: Path, data: object, name: str = "v0.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _import(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_v0", str(path), *args, stdout=out, stderr=out)
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in ALL)


def test_seed_copy_matches_the_shared_example():
    # The test data is a copy so that the suite runs without /work/shared; keep it in sync.
    if EXAMPLE.exists():
        assert json.loads(EXAMPLE.read_text()) == _example()


def test_good_file_imports_everything_keeping_ids_and_timestamps(tmp_path):
    out = _import(_write(tmp_path, _with_unicode(_example())))
    assert "Import complete." in out
    assert _counts() == (3, 4, 2, 3, 5)
    site = Site.objects.get(pk="a3c1e4f2-1111-4a2b-9c3d-000000000001")
    assert site.created_at == datetime.fromisoformat("2026-04-12T14:35:00+07:00")
    assert site.updated_at == datetime.fromisoformat("2026-04-12T14:35:09+07:00")
    assert site.root_path == "/var/www/tokokopi.co.id"  # kept as V0 had it
    assert site.created_by.username == "siti.rahma"
    unicode_site = Site.objects.get(pk="a3c1e4f2-4444-4a2b-9c3d-000000000004")
    assert unicode_site.domain == "xn--kopi-lwak-v9a.co.id"
    assert unicode_site.display_domain == "kopi-lüwak.co.id"
    wayan = User.objects.get(username="wayan.sükma")
    assert wayan.is_active is False
    assert wayan.updated_at == datetime.fromisoformat("2026-07-02T08:00:00+00:00")
    job = Job.objects.get(pk="b0000000-0000-4000-8000-000000000002")
    assert job.payload == {
        "site_id": "a3c1e4f2-2222-4a2b-9c3d-000000000002",
        "domains": ["xn--bcher-kva.id"],
    }
    assert str(job.site_id) == "a3c1e4f2-2222-4a2b-9c3d-000000000002"
    assert job.error_message.startswith("urn:ietf:params:acme:error:dns")
    assert list(AuditLog.objects.order_by("id").values_list("id", flat=True)) == [1, 2, 3, 4, 9]
    assert AuditLog.objects.get(pk=9).metadata["catatan"] == "Selamat datang ☕"
    assert AuditLog.objects.get(pk=3).actor is None
    cert = SslCertificate.objects.get(pk="c0000000-0000-4000-8000-000000000001")
    assert cert.expires_at == datetime.fromisoformat("2026-12-10T14:35:00+07:00")
    # The proxy site's upstream lived only in its job's payload in V0.
    assert Site.objects.get(domain="api.batik-nusantara.com").upstream == "127.0.0.1:3000"


@pytest.mark.parametrize(
    ("root_path", "web_root"),
    [
        ("/etc", "/var/www"),  # a site whose "document root" is /etc: served to the world
        ("/var/www/tokokopi.co.id", "/srv/www"),  # V0's web root is not the panel's
        ("/var/www/other.example", "/var/www"),  # another site's directory
        ("/var/www/../etc", "/var/www"),
        ("var/www/tokokopi.co.id", "/var/www"),
        ("/var/www/tokokopi.co.id/", "/srv/www"),
    ],
)
def test_a_root_path_the_panel_would_not_derive_is_refused(tmp_path, settings, root_path, web_root):
    settings.NUSANTARA_WEB_ROOT = Path(web_root)
    data = _example()
    data["sites"][0]["root_path"] = root_path
    out = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_v0", str(_write(tmp_path, data)), stdout=out, stderr=out)
    assert f"sites[0] (id {data['sites'][0]['id']}): root_path {root_path!r} is not" in (
        out.getvalue()
    )
    assert "NUSANTARA_WEB_ROOT" in out.getvalue()
    assert _counts() == (0, 0, 0, 0, 0)


def test_a_unicode_spelling_of_the_root_path_is_stored_as_the_panel_derives_it(tmp_path):
    out = _import(_write(tmp_path, _with_unicode(_example())))
    site = Site.objects.get(pk="a3c1e4f2-4444-4a2b-9c3d-000000000004")
    assert site.root_path == "/var/www/xn--kopi-lwak-v9a.co.id"
    assert "stored as /var/www/xn--kopi-lwak-v9a.co.id" in out


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ("[fe80::1%eth0\n}\nserver {]:80", "only letters, digits"),
        ("127.0.0.1:22", "Port 22"),
        ("localhost:5432", "Port 5432"),
        ("169.254.169.254:80", "Link-local"),
        ("127.1:3000", "four decimal numbers"),
        ("unix:/run/php/php-fpm.sock", "unix socket"),
    ],
)
def test_a_proxy_upstream_is_held_to_the_panel_s_rules(tmp_path, upstream, message):
    data = _example()
    proxy = next(i for i, s in enumerate(data["sites"]) if s["runtime"] == "proxy")
    data["sites"][proxy]["upstream"] = upstream
    out = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_v0", str(_write(tmp_path, data)), stdout=out, stderr=out)
    assert f"sites[{proxy}]" in out.getvalue() and message in out.getvalue()
    assert _counts() == (0, 0, 0, 0, 0)


def test_a_site_on_the_panel_s_own_host_name_is_refused(tmp_path, settings):
    settings.NUSANTARA_PANEL_HOSTS = ["TokoKopi.co.id."]
    out = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_v0", str(_write(tmp_path, _example())), stdout=out, stderr=out)
    assert "control panel's own address" in out.getvalue()
    assert _counts() == (0, 0, 0, 0, 0)


def test_unfinished_v0_jobs_are_imported_as_they_were_and_announced(tmp_path):
    data = _example()
    data["jobs"][0].update(status="running", finished_at=None)
    out = _import(_write(tmp_path, data))
    assert "1 job(s) were queued or running in V0" in out
    assert Job.objects.get(pk=data["jobs"][0]["id"]).status == "running"


def test_new_audit_rows_continue_after_the_imported_ids(tmp_path):
    _import(_write(tmp_path, _with_unicode(_example())))
    entry = audit_record(actor=None, action=AuditAction.SSL_RENEWAL_RUN, target_type="schedule")
    assert entry.pk == 10


def test_second_run_imports_nothing_and_duplicates_nothing(tmp_path):
    path = _write(tmp_path, _with_unicode(_example()))
    _import(path)
    before = _counts()
    out = _import(path)
    assert _counts() == before
    assert "users: imported 0, already present 3" in out
    assert "audit_logs: imported 0, already present 5" in out


def test_dry_run_writes_nothing(tmp_path):
    out = _import(_write(tmp_path, _example()), "--dry-run")
    assert "sites: would import 3" in out
    assert _counts() == (0, 0, 0, 0, 0)


@override_settings(NUSANTARA_DB_PATH="")
def test_default_path_is_the_v0_store_setting(tmp_path):
    path = _write(tmp_path, _example())
    with override_settings(NUSANTARA_DB_PATH=str(path)):
        call_command("import_v0", stdout=StringIO())
    assert Site.objects.count() == 3


def test_imported_users_log_in_with_their_v0_passwords_and_get_a_modern_hash(tmp_path, client):
    _import(_write(tmp_path, _example()))
    for username, password in (("budi", "rahasia-budi-2026"), ("siti.rahma", "kopi-tubruk-77")):
        assert User.objects.get(username=username).password.startswith("bcrypt_v0$$2b$")
        response = client.post("/accounts/login/", {"username": username, "password": password})
        assert response.status_code == 302, username
        assert User.objects.get(username=username).password.startswith("pbkdf2_sha256$")
        client.logout()
    response = client.post("/accounts/login/", {"username": "budi", "password": "salah"})
    assert response.status_code == 200


def _bad_file() -> dict:
    data = _with_unicode(_example())
    users, sites = data["users"], data["sites"]
    users.append(
        {
            **users[0],
            "id": "11111111-1111-4111-8111-111111111111",
            "username": "x",
            "role": "superadmin",
        }
    )  # users[3]
    users.append({**users[0], "id": "not-a-uuid", "username": "y"})  # users[4]
    users.append(
        {
            **users[0],
            "id": "22222222-2222-4222-8222-222222222222",
            "username": "z",
            "password_hash": "plaintext",
        }
    )  # users[5]
    sites.append(
        {**sites[0], "id": "a3c1e4f2-5555-4a2b-9c3d-000000000005", "domain": "TokoKopi.co.id"}
    )  # sites[4]: duplicate of sites[0]
    sites.append(
        {**sites[1], "id": "a3c1e4f2-6666-4a2b-9c3d-000000000006", "domain": "bücher.id"}
    )  # sites[5]: Unicode spelling of sites[1]
    sites.append(
        {
            **sites[0],
            "id": "a3c1e4f2-7777-4a2b-9c3d-000000000007",
            "domain": "lain.co.id",
            "created_by": "99999999-9999-4999-8999-999999999999",
        }
    )  # sites[6]: dangling
    sites.append(
        {
            **sites[0],
            "id": "a3c1e4f2-8888-4a2b-9c3d-000000000008",
            "domain": "baru.co.id",
            "status": "running",
            "php_version": "8.2",
        }
    )  # sites[7]
    data["ssl_certificates"].append(
        {**data["ssl_certificates"][0], "id": "c0000000-0000-4000-8000-00000000000Z"}
    )  # [2]
    jobs = data["jobs"]
    jobs.append(
        {**jobs[0], "id": "b0000000-0000-4000-8000-000000000004", "status": "done"}
    )  # jobs[3]
    jobs.append(
        {**jobs[0], "id": "b0000000-0000-4000-8000-000000000005", "payload": ["site_id"]}
    )  # jobs[4]
    bad_time = {k: v for k, v in jobs[0].items() if k != "type"}
    jobs.append(
        {
            **bad_time,
            "id": "b0000000-0000-4000-8000-000000000006",
            "started_at": "2026-04-12 14:35:01",
        }
    )  # jobs[5]
    logs = data["audit_logs"]
    logs.append({**logs[0], "id": 10, "created_at": "12/04/2026 14:30"})  # audit_logs[5]
    logs.append({**logs[0], "id": 11, "created_at": "2026-04-12"})  # audit_logs[6]
    logs.append({**logs[0], "id": 12, "metadata": "role=user"})  # audit_logs[7]
    logs.append(
        {**logs[0], "id": 13, "actor_user_id": "99999999-9999-4999-8999-999999999999"}
    )  # audit_logs[8]
    logs.append({**logs[0], "id": 1})  # audit_logs[9]: duplicate id
    return data


EXPECTED_PROBLEMS = [
    "users[3] (id 11111111-1111-4111-8111-111111111111): role: 'superadmin' is not one of admin",
    "users[4] (id not-a-uuid): id: 'not-a-uuid' is not a UUID",
    "users[5] (id 22222222-2222-4222-8222-222222222222): password_hash: is neither a bcrypt",
    "sites[4] (id a3c1e4f2-5555-4a2b-9c3d-000000000005): duplicate domain 'tokokopi.co.id' "
    "(also sites[0])",
    "sites[5] (id a3c1e4f2-6666-4a2b-9c3d-000000000006): duplicate domain 'xn--bcher-kva.id' "
    "(also sites[1])",
    "sites[6] (id a3c1e4f2-7777-4a2b-9c3d-000000000007): created_by: "
    "99999999-9999-4999-8999-999999999999 does not exist in users",
    "sites[7] (id a3c1e4f2-8888-4a2b-9c3d-000000000008): unknown key 'php_version'",
    "sites[7] (id a3c1e4f2-8888-4a2b-9c3d-000000000008): status: 'running' is not one of",
    "ssl_certificates[2] (id c0000000-0000-4000-8000-00000000000Z): id: "
    "'c0000000-0000-4000-8000-00000000000Z' is not a UUID",
    "jobs[3] (id b0000000-0000-4000-8000-000000000004): status: 'done' is not one of",
    "jobs[4] (id b0000000-0000-4000-8000-000000000005): payload: must be a JSON object, got list",
    "jobs[5] (id b0000000-0000-4000-8000-000000000006): missing required column 'type'",
    "jobs[5] (id b0000000-0000-4000-8000-000000000006): started_at: '2026-04-12 14:35:01' has "
    "no UTC offset",
    "audit_logs[5] (id 10): created_at: '12/04/2026 14:30' is not an ISO 8601 timestamp",
    "audit_logs[6] (id 11): created_at: '2026-04-12' has no time of day",
    "audit_logs[7] (id 12): metadata: must be a JSON object, got str",
    "audit_logs[8] (id 13): actor_user_id: 99999999-9999-4999-8999-999999999999 does not exist",
    "audit_logs[9] (id 1): duplicate id 1 (also audit_logs[0])",
]


def test_bad_file_imports_nothing_and_names_every_bad_row(tmp_path):
    out = StringIO()
    with pytest.raises(CommandError, match=r"18 problem\(s\).*nothing was imported"):
        call_command("import_v0", str(_write(tmp_path, _bad_file())), stdout=out, stderr=out)
    report = out.getvalue()
    for expected in EXPECTED_PROBLEMS:
        assert expected in report, expected
    assert "users: 3 problem(s)" in report
    # Good rows are not reported, and nothing at all was written.
    assert not [line for line in report.splitlines() if line.strip().startswith("sites[0]")]
    assert _counts() == (0, 0, 0, 0, 0)


def test_bad_file_with_dry_run_reports_the_same(tmp_path):
    with pytest.raises(CommandError, match="18 problem"):
        _import(_write(tmp_path, _bad_file()), "--dry-run")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "file: must be a JSON object of tables"),
        ({"users": {}}, "users: must be a JSON list of rows"),
        ({"customers": []}, "file: unknown table 'customers'"),
        ({"users": ["budi"]}, "users[0]: must be a JSON object, got str"),
    ],
)
def test_malformed_structure_is_reported(tmp_path, data, message):
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("import_v0", str(_write(tmp_path, data)), stdout=out, stderr=out)
    assert message in out.getvalue()


def test_not_json_is_an_error(tmp_path):
    path = tmp_path / "v0.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="not a JSON file"):
        call_command("import_v0", str(path))


def test_collision_with_a_different_row_in_the_database_imports_nothing(tmp_path):
    UserFactory(username="budi")  # created in the panel before the import, another id
    out = StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_v0", str(_write(tmp_path, _example())), stdout=out, stderr=out)
    assert "username 'budi' already belongs to another row in the database" in out.getvalue()
    assert Site.objects.count() == 0


def test_audit_id_taken_by_a_different_entry_imports_nothing(tmp_path):
    AuditLog.objects.create(id=2, action="auth.login", target_type="user")
    out = StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_v0", str(_write(tmp_path, _example())), stdout=out, stderr=out)
    assert "audit_logs[1] (id 2): this id is already used by a different audit entry" in (
        out.getvalue()
    )
    assert User.objects.count() == 0


def _full_round_trip_source(tmp_path) -> None:
    _import(_write(tmp_path, _with_unicode(_example())))
    panel_user = UserFactory(username="panel.admin", role="admin")
    site = Site.objects.create(
        domain="xn--kopi-lwak-v9a.id",
        root_path="/var/www/xn--kopi-lwak-v9a.id",
        runtime="proxy",
        upstream="127.0.0.1:8001",
        status="provisioning",
        created_by=panel_user,
    )
    SslCertificate.objects.create(
        site=site, status="failed", error_message="rateLimited", failure_count=2, serial="0a1b"
    )
    site.system_user = "np" + site.pk.hex[:10]
    site.save()
    Database.objects.create(
        site=site, name=f"{site.system_user}_shop", db_user=f"{site.system_user}_shop"
    )
    SiteDomain.objects.create(site=site, domain="www.xn--kopi-lwak-v9a.id")
    Site.objects.filter(pk=site.pk).update(
        redirect_mode="to_alias", redirect_to="www.xn--kopi-lwak-v9a.id"
    )
    Job.objects.create(
        type="site.provision",
        status="running",
        payload={"site_id": str(site.pk), "nested": {"list": [1, 2.5, None, "ü"]}},
        site_id=site.pk,
        created_by=panel_user,
        log=[{"at": "2026-11-26T12:00:00.000+00:00", "msg": "attempt 1 started"}],
        attempts=1,
    )
    audit_record(
        actor=panel_user, action="site.create", target=site, metadata={"domain": "kopi-lüwak.id"}
    )


def _snapshot() -> dict[str, list[dict]]:
    return {
        model.__name__: sorted(model.objects.values(), key=lambda row: str(row["id"]))
        for model in (*ALL, Database, SiteDomain)
    }


def test_export_then_import_into_an_empty_database_loses_nothing(tmp_path):
    _full_round_trip_source(tmp_path)
    first = tmp_path / "export-1.json"
    call_command("export_json", str(first), stdout=StringIO())
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    exported = json.loads(first.read_text(encoding="utf-8"))
    assert [u["password_hash"][:4] for u in exported["users"][:2]] == ["$2b$", "$2b$"]
    assert {table: len(rows) for table, rows in exported.items()} == {
        "users": 4,
        "sites": 5,
        "site_domains": 1,
        "ssl_certificates": 3,
        "databases": 1,
        "jobs": 4,
        "audit_logs": 6,
    }

    before = _snapshot()
    for model in reversed(ALL):
        model.objects.all().delete()
    assert _counts() == (0, 0, 0, 0, 0)

    _import(first)
    # Every column of every row, the panel's extra columns included, came back unchanged.
    assert _snapshot() == before
    second = tmp_path / "export-2.json"
    call_command("export_json", str(second), stdout=StringIO())
    assert json.loads(second.read_text(encoding="utf-8")) == exported
    # The panel-made user still logs in with a Django hash, the V0 user with bcrypt.
    assert User.objects.get(username="panel.admin").check_password("correct-horse-battery-staple")
    assert User.objects.get(username="budi").check_password("rahasia-budi-2026")
