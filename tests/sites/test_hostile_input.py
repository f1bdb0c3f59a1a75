"""Hostile input never reaches disk; every name the rules accept renders a vhost nginx accepts."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, reject
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from panel.jobs.models import Job
from panel.sites import nginx as ngx
from panel.sites.domains import normalize_domain
from panel.sites.models import Site
from panel.sites.services import site_create
from tests.conftest import require

HOSTILE = [
    "a.com;",
    "a.com{",
    "a.com}",
    "$host",
    "a.$host.com",
    '"a.com"',
    "'a.com'",
    "a .com",
    "a.com\n}",
    "a.com\nserver {",
    "a.com\r\nb.com",
    "a\tb.com",
    "..",
    "a..com",
    "../../etc/passwd",
    ".a.com",
    "a.com/",
    "a.com:80",
    "a.com#x",
    "a\x00.com",
    "a\\b.com",
    "x" * 64 + ".com",
    ".".join(["a" * 63] * 4) + ".com",
    "127.0.0.1",
    "10.0.0.1.",
    "[::1]",
    "::1",
    "1.2.3.4",
    "a_b.com",
    "_acme.a.com",
    "",
    "   ",
    None,
    "*.a.com",
    "localhost",
    "-a.com",
    "a-.com",
    "a.123",
]


def _snapshot(*dirs: Path) -> set[str]:
    return {str(p) for d in dirs if d.exists() for p in d.rglob("*")}


@pytest.mark.django_db
@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:30] for v in HOSTILE])
def test_hostile_domain_is_refused_with_a_clear_message_and_touches_nothing(nginx, owner, value):
    before = _snapshot(nginx.conf_dir, nginx.web_root)
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain=value, runtime="static")
    message = " ".join(exc.value.message_dict["domain"])
    assert len(message) > 15 and "Traceback" not in message
    assert not Site.objects.exists() and not Job.objects.exists()
    assert _snapshot(nginx.conf_dir, nginx.web_root) == before


_SCRATCH: dict[str, Path] = {}


def _scratch_nginx() -> Path:
    """A second, never-started nginx config that includes one vhost, for `nginx -t` only."""
    if "dir" not in _SCRATCH:
        base = Path(tempfile.mkdtemp(prefix="np-nginx-prop-"))
        (base / "tmp").mkdir()
        (base / "nginx.conf").write_text(
            f"pid {base}/nginx.pid;\nerror_log {base}/error.log;\nevents {{}}\n"
            f"http {{\n server_names_hash_bucket_size 512;\n"
            f" client_body_temp_path {base}/tmp;\n include {base}/vhost.conf;\n}}\n"
        )
        _SCRATCH["dir"] = base
    return _SCRATCH["dir"]


@pytest.fixture(scope="module", autouse=True)
def _cleanup_scratch():
    yield
    if "dir" in _SCRATCH:
        shutil.rmtree(_SCRATCH.pop("dir"), ignore_errors=True)


_label = st.one_of(
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    st.text(alphabet="abcxyzäöüßéñçøåłżşğıকখ日本語한국", min_size=1, max_size=12),
    st.from_regex(r"[a-z0-9]{60,63}", fullmatch=True),
)


@pytest.mark.django_db
@hsettings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    labels=st.lists(_label, min_size=2, max_size=5),
    trailing_dot=st.booleans(),
    runtime=st.sampled_from(["static", "php", "proxy"]),
)
def test_every_accepted_domain_renders_a_vhost_nginx_accepts(nginx, labels, trailing_dot, runtime):
    require(shutil.which("nginx") is not None, "nginx is not installed")
    raw = ".".join(labels) + ("." if trailing_dot else "")
    try:
        domain = normalize_domain(raw)
    except ValidationError:
        reject()  # refused names are the other test's business; draw another

    site = Site(
        domain=domain,
        runtime=runtime,
        upstream="127.0.0.1:8080" if runtime == "proxy" else None,
        root_path=f"/srv/www/{domain}",
    )
    base = _scratch_nginx()
    (base / "vhost.conf").write_text(ngx.render_site(site))
    res = subprocess.run(
        ["nginx", "-t", "-q", "-p", str(base), "-c", str(base / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, f"{raw!r} -> {domain}: {res.stderr}"
