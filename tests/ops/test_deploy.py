"""Deployment files: the Dockerfile lints clean, compose.yaml wires the services the way
docs/operations.md says, the nginx configs parse with the real nginx, the systemd units pass
`systemd-analyze verify`, the sudoers snippet allows exactly two commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.certificates.certgen import cert_pem, key_pem, make_leaf
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


# --- Dockerfile ---


def test_dockerfile_is_hadolint_clean():
    result = _run(sys.executable, "-m", "hadolint", str(ROOT / "Dockerfile"))
    if "No module named" in result.stderr:
        result = _run(str(Path(sys.executable).parent / "hadolint"), str(ROOT / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def _stages() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    parts = re.split(r"^FROM ", text, flags=re.M)[1:]
    return [(p.splitlines()[0], p) for p in parts]


def test_dockerfile_builds_a_slim_non_root_gunicorn_image_from_the_lock_file():
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in text
    stages = _stages()
    assert len(stages) >= 3  # multi-stage: build, nginx, app
    head, final = stages[-1]
    assert head.endswith("AS app"), "a plain `docker build .` must give the app image"
    assert "uv sync --frozen --no-dev" in text
    assert "collectstatic --noinput" in text
    assert "compile_translations" in text
    users = re.findall(r"^USER (\S+)", final, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert 'CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py"]' in final
    assert "HEALTHCHECK" in final
    assert "COPY --from=build" in final
    assert "COPY --from=uv" not in final  # uv stays in the build stage


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", "secrets", "staticfiles"):
        assert entry in ignored


# --- compose.yaml ---


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_has_the_services_with_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "nginx", "php"}
    assert services["db"]["image"] == "postgres:15"
    assert services["redis"]["image"].startswith("redis:")
    for name in ("db", "redis", "web", "worker", "nginx", "php"):
        test = services[name]["healthcheck"]["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    assert services["web"]["command"] == ["gunicorn", "--config", "deploy/gunicorn.conf.py"]
    assert services["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}


def _mounts(service: dict) -> dict[str, str]:
    return {v.split(":")[0]: v.split(":")[1] for v in service.get("volumes", [])}


def test_worker_and_nginx_share_vhosts_web_root_challenge_and_certs(compose):
    services = compose["services"]
    worker, nginx = _mounts(services["worker"]), _mounts(services["nginx"])
    for volume in ("vhosts", "webroot", "challenge", "certs", "nginx-run"):
        assert volume in worker and volume in nginx, volume
        # Same path inside both containers: vhosts name certificate and root paths absolutely.
        assert worker[volume] == nginx[volume], volume
    assert worker["vhosts"] == "/etc/nginx/nusantara-sites"
    # nginx only reads what the worker writes (except its own pid file).
    for entry in services["nginx"]["volumes"]:
        if not entry.startswith(("nginx-run:", "php-run:")):
            assert entry.endswith(":ro"), entry
    # The worker signals nginx itself: shared PID namespace + shared pid file.
    assert services["worker"]["pid"] == "service:nginx"
    declared = set(compose["volumes"])
    for service in services.values():
        named = {m for m in _mounts(service) if not m.startswith("./")}
        assert named <= declared
    # php-fpm serves the same document roots through a socket nginx can reach.
    php = _mounts(services["php"])
    assert php["webroot"] == nginx["webroot"] and php["php-run"] == nginx["php-run"] == "/run/php"
    assert services["php"]["image"].startswith("php:")


def test_compose_secrets_come_from_files_not_from_the_file(compose):
    services = compose["services"]
    env = services["web"]["environment"]
    assert env["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert env["DATABASE_URL_FILE"] == "/run/secrets/database_url"
    assert "SECRET_KEY" not in env and "DATABASE_URL" not in env
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"]
    assert "POSTGRES_PASSWORD" not in services["db"]["environment"]
    assert all("file" in s for s in compose["secrets"].values())
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"://[^:/\s]+:[^@\s$]+@", text.split("\nx-app")[1])


def test_compose_nginx_listens_where_the_vhosts_say(compose):
    # Vhosts keep the default 80/443 (so redirects name the public port); the unprivileged
    # nginx may bind them inside its network namespace.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "NUSANTARA_HTTP_LISTEN" not in dockerfile
    assert "NUSANTARA_HTTPS_LISTEN" not in dockerfile
    nginx = compose["services"]["nginx"]
    assert set(nginx["ports"]) == {"80:80", "443:443"}
    assert nginx["sysctls"]["net.ipv4.ip_unprivileged_port_start"] == 0
    assert "listen 80 default_server;" in (DEPLOY / "docker" / "nginx.conf").read_text()


# --- nginx configs, parsed by the real nginx ---


def _nginx_test(conf: Path, prefix: Path) -> subprocess.CompletedProcess:
    return _run(NGINX, "-t", "-q", "-e", "stderr", "-p", str(prefix), "-c", str(conf))


def test_docker_nginx_conf_parses_with_a_site_vhost(tmp_path):
    require(Path(NGINX).exists(), "nginx binary")
    text = (DEPLOY / "docker" / "nginx.conf").read_text()
    for path in ("/run/nginx", "/tmp/nginx", "/etc/nginx/nusantara-sites"):
        (tmp_path / path.strip("/")).mkdir(parents=True, exist_ok=True)
        text = text.replace(path, str(tmp_path / path.strip("/")))
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    vhost = tmp_path / "etc/nginx/nusantara-sites/example.com.conf"
    vhost.write_text("server { listen 80; server_name example.com; root /srv/www/x; }\n")
    result = _nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr
    vhost.write_text("server { listen 80; server_name example.com; bogus_directive on; }\n")
    assert _nginx_test(conf, tmp_path).returncode != 0


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = make_leaf(["panel.example.com"])
    chain, priv = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    chain.write_text(cert_pem(cert))
    priv.write_text(key_pem(key))
    return chain, priv


def test_bare_metal_panel_include_parses(tmp_path):
    require(Path(NGINX).exists(), "nginx binary")
    chain, priv = _self_signed(tmp_path)
    panel = (DEPLOY / "nginx" / "nusantara-panel.conf").read_text()
    panel = panel.replace("/etc/letsencrypt/live/panel.example.com/fullchain.pem", str(chain))
    panel = panel.replace("/etc/letsencrypt/live/panel.example.com/privkey.pem", str(priv))
    sites = (DEPLOY / "nginx" / "nusantara-sites.conf").read_text()
    sites = sites.replace("/etc/nginx/nusantara-sites", str(tmp_path / "sites"))
    (tmp_path / "sites").mkdir()
    (tmp_path / "panel.conf").write_text(panel)
    (tmp_path / "sites.conf").write_text(sites)
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n"
        f"  include /etc/nginx/mime.types;\n  access_log off;\n"
        f"  include {tmp_path}/sites.conf;\n  include {tmp_path}/panel.conf;\n}}\n"
    )
    result = _nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "proxy_pass http://nusantara_panel;" in panel
    assert "server 127.0.0.1:8000;" in panel


# --- systemd, sudo, gunicorn ---


@pytest.mark.parametrize("unit", ["nusantara-web.service", "nusantara-worker.service"])
def test_systemd_units_pass_systemd_analyze_verify(tmp_path, unit):
    analyze = shutil.which("systemd-analyze")
    require(analyze is not None, "systemd-analyze (Debian package systemd)")
    text = (DEPLOY / "systemd" / unit).read_text()
    # ExecStart must exist for verify: point the install path at this checkout.
    (tmp_path / unit).write_text(text.replace("/opt/nusantara/app", str(ROOT)))
    result = _run(analyze, "verify", str(tmp_path / unit))
    assert result.returncode == 0, result.stderr
    # verify only warns (exit 0) about unknown keys or bad values: any output is a failure.
    assert result.stderr.strip() == "", result.stderr


def test_units_are_hardened_and_only_the_worker_may_gain_privileges():
    web = (DEPLOY / "systemd" / "nusantara-web.service").read_text()
    worker = (DEPLOY / "systemd" / "nusantara-worker.service").read_text()
    for unit in (web, worker):
        assert "User=nusantara" in unit
        assert "ProtectSystem=strict" in unit
        assert "PrivateTmp=yes" in unit
        assert "LoadCredential=secret_key:" in unit
        assert "SECRET_KEY_FILE=%d/secret_key" in unit
    assert "NoNewPrivileges=yes" in web
    assert "CapabilityBoundingSet=\n" in web
    assert "NoNewPrivileges=no" in worker  # sudo is setuid
    rw = re.search(r"^ReadWritePaths=(.*)$", worker, flags=re.M).group(1).split()
    assert {"/var/lib/nusantara", "/srv/www", "/etc/nginx/nusantara-sites"} <= set(rw)
    assert "NUSANTARA_NGINX_TEST_CMD=sudo -n /usr/sbin/nginx -t -q" in worker
    assert "NUSANTARA_NGINX_RELOAD_CMD=sudo -n /usr/bin/systemctl reload nginx" in worker


def test_sudoers_allows_exactly_nginx_test_and_reload_and_the_root_helper():
    path = DEPLOY / "sudoers" / "nusantara"
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    aliases = {
        ln.split()[1]: [c.strip() for c in ln.split("=", 1)[1].split(",")]
        for ln in lines
        if ln.startswith("Cmnd_Alias")
    }
    assert aliases == {
        "NUSANTARA_NGINX": ["/usr/sbin/nginx -t -q", "/usr/bin/systemctl reload nginx"],
        "NUSANTARA_HELPER": ["/usr/local/lib/nusantara/nusantara-helper"],
    }
    grants = [ln for ln in lines if ln.startswith("nusantara ")]
    assert grants == [
        "nusantara ALL=(root) NOPASSWD: NUSANTARA_NGINX",
        "nusantara ALL=(root) NOPASSWD: NUSANTARA_HELPER",
    ]
    visudo = shutil.which("visudo") or "/usr/sbin/visudo"
    require(Path(visudo).exists(), "visudo (Debian package sudo)")
    result = _run(visudo, "-cf", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_gunicorn_config_loads_and_follows_the_environment():
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    conf = str(DEPLOY / "gunicorn.conf.py")
    assert _run(gunicorn, "--check-config", "-c", conf, cwd=ROOT).returncode == 0
    env = {"PATH": "/usr/bin:/bin", "GUNICORN_BIND": "0.0.0.0:9999", "WEB_CONCURRENCY": "3"}
    out = _run(gunicorn, "--print-config", "-c", conf, cwd=ROOT, env=env).stdout
    assert re.search(r"^bind\s+= \['0.0.0.0:9999'\]", out, flags=re.M)
    assert re.search(r"^workers\s+= 3$", out, flags=re.M)
    assert re.search(r"^worker_class\s+= gthread$", out, flags=re.M)
