"""Pebble (a real RFC 8555 ACME server) and pebble-challtestsrv (its DNS) as a session fixture.

Pebble validates HTTP-01 by connecting to <name's A record>:httpPort, so it must know the HTTP
port of the suite's nginx before it starts: the `pebble` fixture starts after `nginx`.
challtestsrv answers every name with 127.0.0.1 (no IPv6: nginx listens on 127.0.0.1 only), and
its management API lets a test make one name resolve nowhere, a failure that happens for real.

Pebble's HTTPS listener gets a throwaway CA made here with `cryptography`; that CA file is what
the panel uses as NUSANTARA_ACME_CA_BUNDLE. Pebble's *issuing* root is new on every start and is
fetched from its management API so tests can verify served certificates against it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import require

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
CHALLTESTSRV = shutil.which("pebble-challtestsrv") or "/usr/bin/pebble-challtestsrv"
# Let's Encrypt's lifetime, so expiry and renewal windows behave like production.
VALIDITY_SECONDS = 90 * 24 * 3600


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by SIGKILL, so a killed
    pytest run leaves no Pebble behind (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_tls_pair(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a localhost/127.0.0.1 certificate for Pebble's own HTTPS listeners."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nusantara test ACME CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@dataclass
class Pebble:
    directory_url: str
    ca_bundle: str
    management_url: str
    challtestsrv_url: str
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    root_pem: bytes = b""

    @property
    def env(self) -> dict[str, str]:
        """What a worker process needs in its environment to talk to this Pebble."""
        return {
            "NUSANTARA_ACME_DIRECTORY": self.directory_url,
            "NUSANTARA_ACME_CA_BUNDLE": self.ca_bundle,
        }

    @property
    def root_path(self) -> Path:
        """Pebble's issuing root as a file, for `ssl.create_default_context(cafile=...)`."""
        return self.workdir / "issuing-root.pem"

    def _challtestsrv(self, endpoint: str, body: dict) -> None:
        resp = requests.post(f"{self.challtestsrv_url}/{endpoint}", json=body, timeout=5)
        resp.raise_for_status()

    def resolve_nowhere(self, host: str) -> None:
        """Make `host` answer SERVFAIL to Pebble: the name resolves nowhere."""
        self._challtestsrv("set-servfail", {"host": host})

    def resolve_normally(self, host: str) -> None:
        self._challtestsrv("clear-servfail", {"host": host})

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def _wait_for(url: str, verify: str | bool, procs: list[subprocess.Popen], log: Path) -> None:
    deadline = time.monotonic() + 20
    last: Exception | None = None
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited early:\n{log.read_text()[-2000:]}")
        try:
            # GET on the management API / DNS port: any answer means it is up.
            requests.get(url, verify=verify, timeout=1)
            return
        except requests.RequestException as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up: {last}\n{log.read_text()[-2000:]}")


def start_pebble(workdir: Path, http_port: int) -> Pebble:
    """Start challtestsrv + Pebble on free loopback ports; Pebble validates HTTP-01 on
    127.0.0.1:<http_port> (the suite's nginx)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = _make_tls_pair(workdir)
    dns_port, chall_mgmt, acme_port, mgmt_port, tls_port = (free_port() for _ in range(5))
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{mgmt_port}",
            "certificate": str(cert_path),
            "privateKey": str(key_path),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": VALIDITY_SECONDS,
        }
    }
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config))
    log = workdir / "pebble.log"
    logfh = log.open("ab")
    pebble = Pebble(
        directory_url=f"https://127.0.0.1:{acme_port}/dir",
        ca_bundle=str(ca_path),
        management_url=f"https://127.0.0.1:{mgmt_port}",
        challtestsrv_url=f"http://127.0.0.1:{chall_mgmt}",
        workdir=workdir,
    )
    try:
        pebble.processes.append(
            subprocess.Popen(
                [
                    CHALLTESTSRV,
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-defaultIPv6",
                    "",
                    "-dns01",
                    f"127.0.0.1:{dns_port}",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    f"127.0.0.1:{chall_mgmt}",
                ],
                stdout=logfh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        )
        _wait_for(pebble.challtestsrv_url, False, pebble.processes, log)
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            # Never reject a good nonce at random: the flow under test is ours, not retries.
            "PEBBLE_WFE_NONCEREJECT": "0",
            # Every order validates for real (a failure test must not ride on a reused authz).
            "PEBBLE_AUTHZREUSE": "0",
        }
        pebble.processes.append(
            subprocess.Popen(
                [PEBBLE, "-config", str(config_path), "-dnsserver", f"127.0.0.1:{dns_port}"],
                stdout=logfh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        )
        _wait_for(pebble.directory_url, pebble.ca_bundle, pebble.processes, log)
        resp = requests.get(f"{pebble.management_url}/roots/0", verify=pebble.ca_bundle, timeout=5)
        resp.raise_for_status()
        pebble.root_pem = resp.content
        pebble.root_path.write_bytes(resp.content)
    except BaseException:
        pebble.stop()
        raise
    finally:
        logfh.close()
    return pebble


def pebble_available() -> bool:
    return Path(PEBBLE).exists() and Path(CHALLTESTSRV).exists()


@pytest.fixture(scope="session")
def pebble_http_port(request) -> int:
    """The port Pebble dials for HTTP-01: the suite's nginx HTTP port."""
    nginx = request.getfixturevalue("nginx")
    return int(nginx.http_port)


@pytest.fixture(scope="session")
def pebble(tmp_path_factory, pebble_http_port):
    """A running Pebble; the panel's ACME settings point at it for the whole session."""
    from django.conf import settings

    require(pebble_available(), "pebble / pebble-challtestsrv are not installed")
    server = start_pebble(tmp_path_factory.mktemp("pebble"), pebble_http_port)
    saved = {name: getattr(settings, name) for name in server.env}
    for name, value in server.env.items():
        setattr(settings, name, value)
    yield server
    for name, value in saved.items():
        setattr(settings, name, value)
    server.stop()
