"""The field's own TLS scanner against a real site: a certificate issued by Pebble through the
real worker and nginx, then sslyze (in its own locked environment, tools/sslyze: it pins a
cryptography older than the one acme needs) scans the private nginx's HTTPS port with the
site's name and judges it against Mozilla's "intermediate" profile."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from panel.jobs.models import Job
from panel.sites import tls
from tests.conftest import require

from .conftest import wait_https
from .test_issuance import _issue

pytestmark = [pytest.mark.services]

ROOT = Path(__file__).resolve().parents[2]
SSLYZE = ["uv", "run", "--project", str(ROOT / "tools" / "sslyze"), "--frozen", "--offline"]
LEGACY_PROTOCOLS = (
    "ssl_2_0_cipher_suites",
    "ssl_3_0_cipher_suites",
    "tls_1_0_cipher_suites",
    "tls_1_1_cipher_suites",
)
# Mozilla intermediate in IANA names (sslyze reports those): the OpenSSL names of
# panel.sites.tls for TLS 1.2, and the three TLS 1.3 suites.
INTERMEDIATE_TLS12 = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}
INTERMEDIATE_TLS13 = {
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
}


@pytest.fixture(scope="module")
def sslyze() -> list[str]:
    """The command that runs sslyze from tools/sslyze (synced by .ci/run)."""
    require(shutil.which("uv") is not None, "uv is not installed")
    probe = subprocess.run(
        [*SSLYZE, "python", "-m", "sslyze", "--help"], capture_output=True, text=True, timeout=120
    )
    require(
        probe.returncode == 0,
        "sslyze's environment is missing: uv sync --frozen --project tools/sslyze "
        f"({probe.stderr.strip()[-300:]})",
    )
    return [*SSLYZE, "python", "-m", "sslyze"]


def _accepted(result: dict, field: str) -> list[str]:
    attempt = result[field]
    assert attempt["status"] == "COMPLETED", (field, attempt.get("error_trace"))
    return [s["cipher_suite"]["name"] for s in attempt["result"]["accepted_cipher_suites"]]


def test_sslyze_finds_an_issued_site_compliant_with_mozilla_intermediate(
    sslyze, pebble, nginx, worker, owner, unique_domain, tmp_path
):
    from panel.sites.services import site_create

    site = site_create(user=owner, domain=unique_domain("scan"), runtime="static")
    provision = Job.objects.get(site_id=site.pk, type="site.provision")
    assert worker.wait_for_job(provision).status == "success"
    site.refresh_from_db()
    job, cert = _issue(worker, owner, site)
    assert job.status == "success", job.error_message
    wait_https(nginx, site.domain, str(pebble.root_path), cert.serial)

    out = tmp_path / "sslyze.json"
    scan = subprocess.run(
        [
            *sslyze,
            "--sni",
            site.domain,
            "--json_out",
            str(out),
            "--mozilla_config",
            "intermediate",
            "--certinfo",
            "--certinfo_ca_file",
            str(pebble.root_path),
            f"127.0.0.1:{nginx.https_port}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = scan.stdout[-4000:]
    # sslyze's own verdict: exit status 1 and "FAILED - Not compliant" otherwise.
    assert scan.returncode == 0, report + scan.stderr[-2000:]
    assert "OK - Compliant" in scan.stdout, report

    (server,) = json.loads(out.read_text())["server_scan_results"]
    assert server["scan_status"] == "COMPLETED", server.get("connectivity_error_trace")
    result = server["scan_result"]
    for field in LEGACY_PROTOCOLS:
        assert _accepted(result, field) == [], f"{field} accepted"
    tls12, tls13 = (
        _accepted(result, "tls_1_2_cipher_suites"),
        _accepted(result, "tls_1_3_cipher_suites"),
    )
    assert tls12 and set(tls12) <= INTERMEDIATE_TLS12, tls12
    # No ssl_dhparam: the profile's DHE suites are never offered (docs/security.md).
    assert not [suite for suite in tls12 if suite.startswith("TLS_DHE_")]
    assert tls13 and set(tls13) <= INTERMEDIATE_TLS13, tls13
    # The same list as the one the vhosts carry (OpenSSL names there).
    assert len(tls.MOZILLA_INTERMEDIATE_CIPHERS) == len(INTERMEDIATE_TLS12)

    certinfo = result["certificate_info"]
    assert certinfo["status"] == "COMPLETED", certinfo.get("error_trace")
    (deployment,) = certinfo["result"]["certificate_deployments"]
    leaf = deployment["received_certificate_chain"][0]
    assert format(int(leaf["serial_number"]), "x") == cert.serial
    assert leaf["subject_alternative_name"]["dns_names"] == [site.domain]
    # The chain nginx sends validates against Pebble's root (and, of course, against no public
    # trust store): the issued certificate is served with its intermediate.
    by_store = {
        Path(v["trust_store"]["path"]): v["was_validation_successful"]
        for v in deployment["path_validation_results"]
    }
    assert by_store.pop(Path(pebble.root_path)) is True, deployment["path_validation_results"]
    assert not any(by_store.values())
    assert deployment["received_chain_has_valid_order"] is True
