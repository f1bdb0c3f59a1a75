"""A private nginx for the tests, on free loopback ports, including the panel's vhost directory.

`nginx -p <dir> -c <dir>/nginx.conf -g "daemon off;"` with its own pid, error log and temp paths,
so it never touches the system nginx or another helper's. The session fixture points the panel's
settings (conf dir, web root, data dir, test/reload commands, listen addresses) at it.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test.utils import override_settings

from tests.certificates.certgen import cert_pem, key_pem, make_leaf

NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    # Long names (up to 253 characters) and thousands of vhosts (README.md, the main nginx config).
    server_names_hash_bucket_size 512;
    server_names_hash_max_size 65536;
    server {{
        listen 127.0.0.1:{http_port} default_server;
        return 404;
    }}
    # Bind the HTTPS port from the start (with a throwaway certificate): otherwise it is only
    # bound at the first reload with an HTTPS vhost, and another process may have taken it.
    server {{
        listen 127.0.0.1:{https_port} ssl default_server;
        # The default server of a port decides the TLS versions and key exchange groups
        # before SNI picks the vhost: the vhosts' profile (docs/security.md).
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_certificate {dir}/default.crt;
        ssl_certificate_key {dir}/default.key;
        return 444;
    }}
    include {conf_dir}/*.conf;
}}
"""

SFTP_GROUP = f"np-test-sftp-{os.getpid()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str
    cert_der: bytes | None = None


@dataclass
class NginxService:
    dir: Path
    http_port: int
    https_port: int
    conf_dir: Path
    web_root: Path
    data_dir: Path
    proc: subprocess.Popen | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, object]:
        """The panel settings that point at this nginx (applied for the session)."""
        return {
            "DATA_DIR": self.data_dir,
            "NUSANTARA_DATA_DIR": self.data_dir,
            "NUSANTARA_WEB_ROOT": self.web_root,
            "NUSANTARA_NGINX_CONF_DIR": self.conf_dir,
            "NUSANTARA_CHALLENGE_DIR": self.data_dir / "acme-challenge",
            "NUSANTARA_CERT_DIR": self.data_dir / "certs",
            "NUSANTARA_NGINX_TEST_CMD": self.test_cmd,
            "NUSANTARA_NGINX_RELOAD_CMD": self.reload_cmd,
            "NUSANTARA_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "NUSANTARA_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            # This nginx's workers run as nobody/nogroup: the group that reads every public/.
            "NUSANTARA_NGINX_GROUP": "nogroup",
            # The site users' supplementary group; created by the helper, removed at the end.
            # One per test session (groups are machine-wide: a second session ending at the same
            # time must not delete the group this one's site users are in).
            "NUSANTARA_SFTP_GROUP": SFTP_GROUP,
        }

    @property
    def test_cmd(self) -> str:
        return f"nginx -t -q -p {self.dir} -c {self.dir}/nginx.conf"

    @property
    def reload_cmd(self) -> str:
        # What `nginx -s reload` does, without it parsing the whole config once more first.
        return f"kill -HUP {self.proc.pid}" if self.proc else ""

    def config_ok(self) -> tuple[bool, str]:
        """Run the real `nginx -t` on the config as it is on disk."""
        res = subprocess.run(self.test_cmd.split(), capture_output=True, text=True)
        return res.returncode == 0, res.stderr

    def get(self, host: str, path: str = "/", timeout: float = 5) -> Response:
        """GET through nginx's HTTP listener with this Host header."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace")
            return Response(resp.status, dict(resp.getheaders()), body)
        finally:
            conn.close()

    def https_get(
        self, host: str, path: str = "/", cafile: str | None = None, timeout: float = 5
    ) -> Response:
        """GET through the HTTPS listener with SNI = host; verify against cafile if given."""
        if cafile:
            ctx = ssl.create_default_context(cafile=cafile)
        else:
            ctx = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, timeout=timeout, context=ctx
        )
        # Connect to 127.0.0.1 but do SNI and verification for the site's name: a socket set
        # in advance is used as is by http.client.
        sock = socket.create_connection(("127.0.0.1", self.https_port), timeout=timeout)
        conn.sock = ctx.wrap_socket(sock, server_hostname=host)
        # Read the certificate now: once the response is read, http.client may have closed the
        # socket (an old nginx worker closes after answering) and conn.sock is None.
        der = conn.sock.getpeercert(binary_form=True)
        try:
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace")
            return Response(resp.status, dict(resp.getheaders()), body, der)
        finally:
            conn.close()

    def wait_for(
        self,
        host: str,
        path: str = "/",
        status: int = 200,
        timeout: float = 20,
        text: str | None = None,
    ) -> Response:
        """Poll until nginx answers this host with `status` (and a body containing `text`)
        and has settled: a reload takes effect asynchronously, and right after it the old
        worker still accepts connections with the old config."""
        return self._settle(lambda: self.get(host, path), status, text, timeout)

    def wait_for_https(
        self,
        host: str,
        path: str = "/",
        status: int = 200,
        cafile: str | None = None,
        timeout: float = 20,
        text: str | None = None,
    ) -> Response:
        """`wait_for` over HTTPS: the old worker may still close the connection (the default
        server's 444) or present the old certificate, so errors count as "not yet"."""
        return self._settle(
            lambda: self.https_get(host, path, cafile, timeout=3), status, text, timeout
        )

    def accepting_workers(self) -> list[int]:
        """PIDs of this nginx's workers that still accept connections. After a reload the old
        worker keeps accepting until it has processed its QUIT; then its title gains "is
        shutting down" and it only finishes the connections it has."""
        if self.proc is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
            except OSError:
                continue  # gone meanwhile
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and title == b"nginx: worker process":
                pids.append(int(entry.name))
        return pids

    def _settle(
        self, fetch, status: int, text: str | None, timeout: float, streak: int = 2
    ) -> Response:
        """Poll until `fetch` gives `status` `streak` times in a row AND only one worker accepts
        connections (worker_processes 1): from then on no old worker can answer with the old
        config, however loaded the machine is."""
        deadline = time.monotonic() + timeout
        good, last, why = 0, None, ""
        while True:
            try:
                last = fetch()
                why = f"HTTP {last.status}"
                wanted = last.status == status and (text is None or text in last.body)
                good = good + 1 if wanted else 0
            except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError is an OSError
                good, why, last = 0, repr(exc), None
            if good >= streak:
                workers = self.accepting_workers()
                if len(workers) == 1:
                    break
                why = f"HTTP {status}, but {len(workers)} workers still accept connections"
            if time.monotonic() > deadline:
                if last is not None and good == 0:
                    return last  # the caller's assertion shows the status and body
                log = (self.dir / "error.log").read_text(errors="replace")[-1500:]
                pytest.fail(f"nginx never settled on HTTP {status} ({why}); error.log:\n{log}")
            time.sleep(0.02)
        return last


def start_nginx(base: Path) -> NginxService:
    svc = NginxService(
        dir=base,
        http_port=free_port(),
        https_port=free_port(),
        conf_dir=base / "sites",
        web_root=base / "www",
        data_dir=base / "data",
    )
    for sub in ("tmp", "sites", "www", "data", "logs"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    # As in production (docs/operations.md): the data dir is traversable (the challenge dir is
    # inside it) but not listable by nginx's workers and the sites' PHP.
    (base / "data").chmod(0o711)
    key, cert = make_leaf(["default.invalid"])
    (base / "default.crt").write_text(cert_pem(cert))
    (base / "default.key").write_text(key_pem(key))
    (base / "default.key").chmod(0o600)
    mime = "/etc/nginx/mime.types"
    (base / "nginx.conf").write_text(
        NGINX_CONF.format(
            dir=base,
            http_port=svc.http_port,
            https_port=svc.https_port,
            conf_dir=svc.conf_dir,
            mime_types=mime if os.path.exists(mime) else "mime.types",
        )
    )
    svc.argv = ["nginx", "-p", str(base), "-c", str(base / "nginx.conf"), "-g", "daemon off;"]
    svc.proc = subprocess.Popen(svc.argv, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", svc.http_port), timeout=0.2).close()
            break
        except OSError:
            if svc.proc.poll() is not None or time.monotonic() > deadline:
                err = svc.proc.stderr.read().decode() if svc.proc.stderr else ""
                raise RuntimeError(f"nginx did not start: {err}")
            time.sleep(0.05)
    return svc


def stop_nginx(svc: NginxService) -> None:
    if svc.proc and svc.proc.poll() is None:
        svc.proc.send_signal(signal.SIGQUIT)  # graceful; the master takes its workers along
        try:
            svc.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(svc.proc.pid, signal.SIGKILL)
            svc.proc.wait(timeout=5)


@pytest.fixture(scope="session")
def nginx():
    """A private nginx; the panel's settings point at it for the rest of the session."""
    from tests.conftest import require  # here: bench/provision.py imports this module early

    require(shutil.which("nginx") is not None, "nginx is not installed (apt-get install nginx)")
    base = Path(tempfile.mkdtemp(prefix="np-nginx-"))
    base.chmod(0o755)  # php-fpm's pool user must reach the web root below it
    svc = start_nginx(base)
    override = override_settings(**svc.settings)
    override.enable()
    try:
        yield svc
    finally:
        override.disable()
        stop_nginx(svc)
        from tests.services.tenancy import remove_site_users

        remove_site_users(svc.web_root, str(svc.settings["NUSANTARA_SFTP_GROUP"]))
        shutil.rmtree(base, ignore_errors=True)
