"""The README's first command on a clean clone: bin/run serves the panel and its printed admin
credentials log in to /admin/; a PHP site created there is served by its private nginx through
its private php-fpm; stopping it leaves no process behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout to clone")
def test_bin_run_on_a_clean_clone_serves_the_panel_and_the_admin_logs_in():
    # Not under pytest's tmp_path (0700 parents): as root, the embedded php-fpm runs PHP as
    # nobody, which must be able to walk down to the sites' files.
    base = Path(tempfile.mkdtemp(prefix="np-quickstart-"))
    base.chmod(0o755)
    try:
        _quickstart(base / "clone")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _quickstart(clone: Path) -> None:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # Test the working tree as it is, not only what is committed.
    subprocess.run(
        f"git -C {ROOT} diff HEAD --binary | git -C {clone} apply --allow-empty -",
        shell=True,
        check=True,
    )
    untracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in untracked:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "NUSANTARA_", "DJANGO_", "VIRTUAL_ENV"))
        # bin/run must choose DEBUG itself: the settings' default is off (production).
        and k != "DEBUG"
    }
    env["BIND"] = f"127.0.0.1:{port}"
    sites_port = _free_port()
    env["NUSANTARA_HTTP_LISTEN"] = f"127.0.0.1:{sites_port}"
    env["NUSANTARA_HTTPS_LISTEN"] = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        ["bin/run"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    reader = None
    try:
        username = password = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and password is None:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if m := re.search(r"username: (\S+)", line):
                username = m.group(1)
            if m := re.search(r"password: (\S+)", line):
                password = m.group(1)
        assert username == "admin" and password, "".join(output)[-3000:]
        # Keep draining the output so that the server never blocks on a full pipe.
        reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
        reader.start()
        assert (clone / "var" / "panel.sqlite3").exists()
        assert oct((clone / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"

        base = f"http://127.0.0.1:{port}"
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for _ in range(120):
            try:
                page = opener.open(f"{base}/admin/login/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the panel did not answer:\n" + "".join(output)[-3000:])
        data = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": _csrf(page),
                "username": username,
                "password": password,
                "next": "/admin/",
            }
        ).encode()
        req = urllib.request.Request(f"{base}/admin/login/?next=/admin/", data=data)
        req.add_header("Referer", f"{base}/admin/login/")
        resp = opener.open(req, timeout=10)
        body = resp.read().decode()
        assert resp.url.endswith("/admin/"), resp.url
        assert "Site administration" in body or "logout" in body.lower()

        if shutil.which("nginx"):
            # The embedded nginx is up on the configured port (no site yet: its default 404).
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{sites_port}/", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
            else:
                pytest.fail("the embedded nginx answered 200 without any site")
            if _php_fpm():
                _php_site_is_served(clone, env, sites_port, output)
    finally:
        # SIGTERM to the script alone (as `kill <pid>` does): it must stop all it started.
        stopped_on_term = True
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stopped_on_term = False
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert stopped_on_term, "bin/run did not stop on SIGTERM:\n" + "".join(output)[-3000:]
    if reader is not None:
        reader.join(timeout=10)  # the last lines, written as bin/run stopped
    # The worker stopped by itself (a running job finishes), not by SIGKILL after a timeout.
    log = "".join(output)
    assert re.search(r"Q Cluster \S+ has stopped", log), log[-3000:]
    assert "Killed" not in log, log[-3000:]
    # gunicorn's control socket is the checkout's own, not ~/.gunicorn shared by every run.
    assert f"Control socket listening at {clone}/var/gunicorn.ctl" in log, log[-3000:]
    pid_file = clone / "var" / "nginx" / "nginx.pid"
    assert not pid_file.exists(), "bin/run left its embedded nginx running"
    time.sleep(0.5)
    fpm_conf = clone / "var" / "php-fpm" / "php-fpm.conf"
    fpm_left = subprocess.run(
        ["pgrep", "-f", str(fpm_conf)], capture_output=True, text=True
    ).stdout.split()
    if fpm_left:
        subprocess.run(["kill", "-9", *fpm_left])
    assert not fpm_left, "bin/run left its embedded php-fpm running"
    assert not (clone / "var" / "php-fpm" / "php-fpm.pid").exists()
    leftovers = subprocess.run(
        ["pgrep", "-f", f"{clone}/.venv/bin/python manage.py qcluster"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if leftovers:
        subprocess.run(["kill", "-9", *leftovers])
    assert not leftovers, "bin/run left its worker running"


def _php_fpm() -> str | None:
    for name in ("php-fpm8.2", "php-fpm", "php-fpm8.4", "php-fpm8.3", "php-fpm8.1"):
        if found := shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin"):
            return found
    return None


CREATE_PHP_SITE = """
from panel.accounts.models import User
from panel.sites.services import site_create
site = site_create(user=User.objects.get(username="admin"), domain="php.quickstart.test",
                   runtime="php")
print("created", site.pk)
"""


def _php_site_is_served(clone: Path, env: dict, sites_port: int, output: list[str]) -> None:
    """A PHP site made in the quick start becomes active and nginx serves its PHP page through
    the private php-fpm (the master under ./var/php-fpm, the shared pool's socket)."""
    sock = clone / "var" / "php-fpm" / "php.sock"
    assert sock.is_socket(), "".join(output)[-3000:]
    master = subprocess.run(
        ["pgrep", "-f", str(clone / "var" / "php-fpm" / "php-fpm.conf")],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert master, "no php-fpm master runs the quick start's config"
    # bin/run exports DEBUG=True for its own processes; a manage.py beside it needs it too.
    shell_env = {**env, "NUSANTARA_ISOLATION": "off", "DEBUG": "True"}
    res = subprocess.run(
        [".venv/bin/python", "manage.py", "shell", "-c", CREATE_PHP_SITE],
        cwd=clone,
        env=shell_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "created" in res.stdout, res.stdout + res.stderr
    body = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        req = urllib.request.Request(
            f"http://127.0.0.1:{sites_port}/", headers={"Host": "php.quickstart.test"}
        )
        try:
            body = urllib.request.urlopen(req, timeout=5).read().decode()
            if "6 * 7 = 42" in body:
                break
        except OSError as exc:
            body = str(exc)
        time.sleep(0.3)
    else:
        log = (clone / "var" / "php-fpm" / "error.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"PHP page not served: {body!r}\n{log}\n" + "".join(output)[-3000:])
    status = subprocess.run(
        [
            ".venv/bin/python", "manage.py", "shell", "-c",
            "from panel.sites.models import Site; "
            "print(Site.objects.get(domain='php.quickstart.test').status)",
        ],
        cwd=clone, env=shell_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert status.stdout.split()[-1:] == ["active"], status.stdout + status.stderr


def test_bin_run_stops_with_nginxs_reason_when_its_nginx_cannot_start(tmp_path):
    require(shutil.which("nginx") is not None, "nginx is not installed (apt-get install nginx)")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "NUSANTARA_", "DJANGO_", "VIRTUAL_ENV"))
        and k != "DEBUG"
    }
    env["NUSANTARA_DATA_DIR"] = str(tmp_path / "var")
    env["BIND"] = f"127.0.0.1:{_free_port()}"
    with socket.socket() as busy:  # another program holds the sites' port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env["NUSANTARA_HTTP_LISTEN"] = f"127.0.0.1:{busy.getsockname()[1]}"
        res = subprocess.run(
            ["bin/run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert res.returncode != 0, res.stdout + res.stderr
    assert "Embedded nginx could not start, so the panel was not started" in res.stderr
    assert "Address already in use" in res.stderr  # nginx's own words
    assert env["NUSANTARA_HTTP_LISTEN"] in res.stderr and "choose a free address" in res.stderr
    # It stopped before anything else: no database, no server, no worker.
    assert not (tmp_path / "var" / "panel.sqlite3").exists()
    assert "Nusantara Panel: http" not in res.stdout
