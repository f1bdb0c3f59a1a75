"""nginx configuration as a transaction, so that one bad site can never take nginx down.

apply() runs under one writer lock (fcntl on <data dir>/nginx.lock): test the current config and
refuse if it is already broken; journal the previous files; write the new ones atomically; test
again; reload once. A change nginx rejects is rolled back (its file kept as `<domain>.conf.err`)
and reported with nginx's own message while the rest of the batch goes ahead. If the writer dies
mid-way, the next writer restores the journal first. Callers hand in many changes at once (see
panel/sites/handlers.py) so that a burst of sites costs one test and one reload, not one each.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from . import grammar, tls, vhost_check
from .domains import ensure_not_panel_host, normalize_domain, www_name
from .models import RedirectMode, Runtime, Site
from .upstreams import check_upstream, split_upstream

logger = logging.getLogger(__name__)

_CONF_REF = re.compile(r" in (/\S+?\.conf):\d+")
# nginx ends an error about a config file with " in <file>:<line>".
_FILE_LINE = re.compile(r" in (/\S+):(\d+)\s*$", re.MULTILINE)
# What `nginx -s reload` (or `kill -HUP <pid>`) says when no master process is there to signal:
# the pid file is missing, empty, or names a process that is gone.
_NOT_RUNNING = re.compile(
    r'open\(\) "[^"]*" failed \(2: No such file or directory\)'
    r"|invalid PID number|No such process"
)
_LOG_PREFIX = re.compile(
    r"^(?:nginx: )?(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?\[(\w+)\] (?:\d+#\d+: )?"
)
_FASTCGI_PARAMS = (
    "/etc/nginx/fastcgi_params",
    "/usr/local/etc/nginx/fastcgi_params",
    "/usr/local/nginx/conf/fastcgi_params",
    "/opt/homebrew/etc/nginx/fastcgi_params",
)
INDEX_PAGES: dict[str, tuple[str, str]] = {
    Runtime.STATIC: (
        "index.html",
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>{domain}</title></head>\n'
        "<body><h1>{domain}</h1><p>Hosted by Nusantara Panel. Upload your site to replace "
        "this page.</p></body></html>\n",
    ),
    Runtime.PHP: (
        "index.php",
        "<?php\n// Default page of {domain}: upload your application to replace it.\n"
        'echo "<h1>{domain}</h1><p>PHP " . PHP_MAJOR_VERSION . " works: 6 * 7 = " . (6 * 7) '
        '. "</p>";\n',
    ),
}

_local = threading.local()


class NginxError(Exception):
    """nginx refused a change (the message is nginx's own) or the config is already broken."""


@dataclass
class ApplyResult:
    rejected: dict[str, str] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    tests: int = 0
    reloaded: bool = False


def _safe_path(path: Path | str, what: str) -> str:
    value = str(path)
    if not grammar.is_path(value):
        raise NginxError(
            _("The %(what)s path %(path)s contains characters nginx cannot be given safely.")
            % {"what": what, "path": value[:200]}
        )
    return value


def _body_size(value: str) -> str:
    if not grammar.is_body_size(value):
        raise NginxError(
            _("NUSANTARA_MAX_BODY_SIZE must be a size such as 64m, 512k or 1g, not %(value)s.")
            % {"value": value[:50]}
        )
    return value


def _listen(value: str, what: str) -> str:
    if not grammar.is_listen(value):
        raise NginxError(_("%(what)s is not a valid listen address.") % {"what": what})
    return value


def cert_paths(domain: str) -> tuple[Path, Path]:
    """Where the certificates helper writes a site's certificate: (fullchain, privkey)."""
    base = Path(settings.NUSANTARA_CERT_DIR) / domain
    return base / "fullchain.pem", base / "privkey.pem"


def conf_path(domain: str) -> Path:
    return Path(settings.NUSANTARA_NGINX_CONF_DIR) / f"{domain}.conf"


def rejected_path(domain: str) -> Path:
    """The last vhost nginx refused for this domain, kept beside the live one for inspection."""
    return conf_path(domain).with_name(f"{domain}.conf.err")


def read_vhosts(domain: str, limit: int = 64_000) -> tuple[str | None, str | None]:
    """(live vhost, last rejected vhost) as text for the site page, None where there is none."""

    def read(path: Path) -> str | None:
        try:
            return path.read_text(errors="replace")[:limit]
        except OSError:
            return None

    return read(conf_path(domain)), read(rejected_path(domain))


_SERVER_NAME = re.compile(r"^\s*server_name\s+([^;]*);", re.MULTILINE)


def served_names(domain: str) -> set[str]:
    """The names the live vhost of `domain` answers for (its `server_name` lines), as nginx
    has it now: empty when there is no vhost."""
    live, _rejected = read_vhosts(domain, limit=1_000_000)
    return {name for match in _SERVER_NAME.finditer(live or "") for name in match[1].split()}


def fastcgi_params() -> str:
    for candidate in _FASTCGI_PARAMS:
        if os.path.exists(candidate):
            return candidate
    return "fastcgi_params"  # relative to nginx's own conf dir


def render_site(site: Site) -> str:
    """The vhost for a site as the database and the certificate files describe it.

    Defence in depth (docs/security.md): every value must pass its grammar (panel.sites.grammar),
    a proxy upstream the upstream policy (resolved again here, in the worker: DNS can change),
    and the text is checked structurally (render_vhost) before anyone writes it."""
    return render_vhost(vhost_context(site))


def vhost_context(site: Site) -> dict[str, object]:
    """The template's values for a site, each checked against its grammar (NginxError)."""
    if not grammar.is_domain(site.domain) or normalize_domain(site.domain) != site.domain:
        raise NginxError(_("The stored domain is not in normalised form."))
    try:
        ensure_not_panel_host(site.domain)
    except ValidationError as exc:
        raise NginxError(" ".join(exc.messages))
    if site.runtime not in Runtime.values:
        raise NginxError(_("Unknown runtime %(runtime)s.") % {"runtime": site.runtime})
    upstream = None
    if site.runtime == Runtime.PROXY:
        upstream = _upstream(site.upstream, check=site.suspended_at is None)
    names = site_names(site)
    fullchain, privkey = cert_paths(site.domain)
    covered: set[str] = set()
    if fullchain.is_file() and privkey.is_file():
        covered = tls.covered_names(fullchain, names, fallback=site.domain)
    https_listen = _listen(settings.NUSANTARA_HTTPS_LISTEN, "NUSANTARA_HTTPS_LISTEN")
    https_port = https_listen.rsplit(":", 1)[-1]
    http_listen = _listen(settings.NUSANTARA_HTTP_LISTEN, "NUSANTARA_HTTP_LISTEN")
    http_port = http_listen.rsplit(":", 1)[-1]
    # Which name serves the site, and which names answer 301 to it (RedirectMode).
    canonical = site.domain
    if site.redirect_mode == RedirectMode.TO_WWW and www_name(site.domain) in names:
        canonical = www_name(site.domain)
    elif site.redirect_mode == RedirectMode.TO_ALIAS and site.redirect_to in names[1:]:
        canonical = site.redirect_to  # one of the names checked above
    if site.redirect_mode == RedirectMode.SERVE_ALL:
        serve, redirect = names, []
    else:
        serve, redirect = [canonical], [n for n in names if n != canonical]
    https = bool(covered)
    params = fastcgi_params()
    from panel.tenancy import homes

    logs = homes.logs_dir(site)
    return {
        "site_id": _uuid(site.pk),
        "domain": site.domain,
        "canonical": canonical,
        # A name the certificate covers is served over HTTPS (its HTTP side redirects there);
        # a name it does not cover (pre-flight failed for it) is still served over HTTP.
        "upgrade_names": [n for n in serve if n in covered],
        "http_serve_names": [n for n in serve if n not in covered],
        "http_redirect_names": redirect,
        "https_serve_names": [n for n in serve if n in covered],
        "https_redirect_names": [n for n in redirect if n in covered],
        "target_scheme": "https" if canonical in covered else "http",
        "target_port_suffix": _port_suffix(https_port, "443")
        if canonical in covered
        else _port_suffix(http_port, "80"),
        "runtime": site.runtime,
        "suspended": site.suspended_at is not None,
        "root": _safe_path(site.root_path, "document root"),
        "upstream": upstream,
        "php_socket": _safe_path(homes.php_socket(site), "php-fpm socket"),
        "logs_dir": _safe_path(logs, "logs") if logs else "",
        "fastcgi_params": _safe_path(params, "fastcgi_params")
        if params.startswith("/")
        else _relative_file(params),
        "challenge_root": _safe_path(settings.NUSANTARA_CHALLENGE_DIR, "challenge"),
        "http_listen": http_listen,
        "max_body_size": _body_size(settings.NUSANTARA_MAX_BODY_SIZE),
        "https": https,
        "https_listen": https_listen,
        "https_port_suffix": _port_suffix(https_port, "443"),
        "fullchain": _safe_path(fullchain, "certificate") if https else "",
        "privkey": _safe_path(privkey, "key") if https else "",
        "ssl_ciphers": tls.SSL_CIPHERS,
        "ssl_ecdh_curve": tls.SSL_ECDH_CURVE,
        "ssl_session_zone": tls.SSL_SESSION_ZONE,
        "ocsp_stapling": bool(https and tls.has_ocsp_responder(fullchain)),
        "hsts": bool(https and site.hsts),
    }


def site_names(site: Site) -> list[str]:
    """The site's names for its vhost, the primary first, each checked against the grammar
    and the panel's own names again (NginxError): what reaches `server_name` and `return`.
    A job that changes the aliases sets `alias_override` on the site it renders."""
    override = getattr(site, "alias_override", None)
    if override is not None:
        aliases = list(override)
    elif site._state.adding:
        aliases = []  # an unsaved site (a render for a check) has no rows
    else:
        aliases = sorted(a.domain for a in site.aliases.all())
    names = [site.domain]
    for name in aliases:
        if not grammar.is_domain(name) or normalize_domain(name) != name:
            raise NginxError(
                _("The stored alias %(name)s is not in normalised form.")
                % {"name": repr(name)[:100]}
            )
        try:
            ensure_not_panel_host(name)
        except ValidationError as exc:
            raise NginxError(" ".join(exc.messages))
        if name not in names:
            names.append(name)
    return names


def _port_suffix(port: str, default: str) -> str:
    return "" if port == default else f":{port}"


VHOST_TEMPLATE = "sites/nginx/vhost.conf"
# Context keys that choose the template's branches: the structural check renders them as they
# are. Every other value is replaced by a placeholder there, so a new template variable is
# covered without being listed here (unless the template compares it with `==`).
VHOST_CONTROL_KEYS = frozenset({"runtime", "https", "suspended"})


def render_vhost(context: Mapping[str, object]) -> str:
    """Render the vhost template and prove that the text holds exactly the directives the
    template means with these values (panel.sites.vhost_check); NginxError otherwise."""
    text = render_to_string(VHOST_TEMPLATE, dict(context))
    try:
        vhost_check.verify(
            text,
            lambda values: render_to_string(VHOST_TEMPLATE, dict(values)),
            context,
            VHOST_CONTROL_KEYS,
            cache_key=VHOST_TEMPLATE,
        )
    except vhost_check.VhostCheckError as exc:
        raise NginxError(str(exc))
    return text


def _upstream(value: str | None, *, check: bool) -> str:
    if not grammar.is_upstream(value or ""):
        raise NginxError(
            _("The upstream %(upstream)s is not a host:port nginx can be given safely.")
            % {"upstream": repr(value)[:100]}
        )
    assert value is not None
    if not check:
        return value
    try:
        addresses = check_upstream(value)
    except ValidationError as exc:
        raise NginxError(
            _("The upstream %(upstream)s is refused: %(reason)s")
            % {"upstream": value, "reason": " ".join(exc.messages)}
        )
    # The vhost holds the address that was checked, never the name: nginx resolves a name again
    # at every reload, and a name re-pointed at 127.0.0.1:<panel port> after the check would be
    # proxied to. DNS changes reach the vhost when it is rendered again (`nginx_resync`).
    _host, port = split_upstream(value)
    address = addresses[0]
    pinned = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
    if not grammar.is_upstream(pinned):
        raise NginxError(_("The upstream %(upstream)s is refused.") % {"upstream": value})
    return pinned


def _uuid(value: object) -> str:
    if not grammar.UUID.fullmatch(str(value)):
        raise NginxError(_("The site id %(id)s is not a UUID.") % {"id": repr(value)[:60]})
    return str(value)


def _relative_file(value: str) -> str:
    if not grammar.RELATIVE_FILE.fullmatch(value):
        raise NginxError(_("%(value)s is not a plain file name.") % {"value": repr(value)[:100]})
    return value


def ensure_docroot(site: Site) -> Path:
    """Create the document root with a default index page (kept if the site already has one)."""
    root = _site_dir(Path(site.root_path), site.domain)
    if not root.parent.exists():
        root.parent.mkdir(parents=True)
        root.parent.chmod(0o755)
    root.mkdir(exist_ok=True)
    root.chmod(0o755)  # php-fpm's pool user (not the panel's) must read it
    page = INDEX_PAGES.get(site.runtime)
    existing = ("index.html", "index.htm", "index.php")
    if page and not any((root / name).exists() for name in existing):
        name, body = page
        _write_atomic(root / name, body.format(domain=site.domain), mode=0o644)
    return root


def _site_dir(path: Path, domain: str) -> Path:
    # Never act on a path that is not "<somewhere>/<this domain>": a guard against a bad row.
    if path.name != domain or not path.is_absolute() or ".." in path.parts:
        raise NginxError(_("Refusing to touch %(path)s.") % {"path": str(path)[:200]})
    return path


class FilesNotRemoved(Exception):
    """Some of a site's files could not be removed; the message names each path and why."""


def remove_tree(path: Path) -> None:
    """Remove a directory tree (or a symlink to one, not its target) and say exactly what could
    not be removed: FilesNotRemoved with the path and the system's reason. A missing path is
    fine, so a retry after fixing the cause finishes the job."""
    failures: list[str] = []

    def onexc(_func: object, failed: str, exc: BaseException) -> None:
        if isinstance(exc, FileNotFoundError):
            return
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        failures.append(f"{failed}: {reason}")

    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path, onexc=onexc)
    except FileNotFoundError:
        pass
    except OSError as exc:
        failures.append(f"{path}: {exc.strerror or exc}")
    if failures:
        shown = "; ".join(failures[:5]) + (
            f" (and {len(failures) - 5} more)" if failures[5:] else ""
        )
        raise FilesNotRemoved(
            _("Could not remove %(shown)s. Fix the cause and retry the job.") % {"shown": shown}
        )


def purge_site_files(domain: str, root_path: str | None = None) -> None:
    """Remove everything the panel keeps on disk for a domain besides its vhost. Raises
    FilesNotRemoved naming every path that stayed (e.g. a private key): nothing is claimed."""
    domain = normalize_domain(domain)
    dirs = [Path(settings.NUSANTARA_WEB_ROOT) / domain, Path(settings.NUSANTARA_CERT_DIR) / domain]
    if root_path:
        dirs.append(_site_dir(Path(root_path), domain))
    errors: list[str] = []
    for directory in [*dirs, rejected_path(domain)]:
        try:
            remove_tree(directory)
        except FilesNotRemoved as exc:
            errors.append(str(exc))
    if errors:
        raise FilesNotRemoved(" ".join(errors))


def _write_atomic(path: Path, content: str, mode: int = 0o644) -> None:
    # Rename makes the switch atomic for nginx. No fsync per file: it cost ~5 ms a file, and the
    # journal plus `manage.py nginx_resync` rebuild the files from the database after a power cut.
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(content)
    tmp.chmod(mode)
    os.replace(tmp, path)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    message: str
    missing: bool = False  # the command's program does not exist (nginx not installed)
    argv0: str = ""
    output: str = ""  # everything the command printed (`message` keeps the last part)


def _run(command: str) -> _Outcome:
    argv = shlex.split(command)
    if not argv:
        return _Outcome(True, "")
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError as exc:
        return _Outcome(False, f"{argv[0]}: {exc.strerror}", missing=True, argv0=argv[0])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _Outcome(False, f"{argv[0]}: {exc}", argv0=argv[0])
    output = res.stderr + res.stdout
    return _Outcome(res.returncode == 0, _clean(output), argv0=argv[0], output=output)


def _clean(output: str) -> str:
    """nginx's message without timestamps, pids and the 'test failed' (or `-s`) chatter."""
    lines = []
    for line in output.splitlines():
        line = _LOG_PREFIX.sub(r"[\1] ", line.strip())
        if line and not line.endswith(
            ("test failed", "syntax is ok", "test is successful", "signal process started")
        ):
            lines.append(line)
    return "\n".join(lines)[-2000:] or output.strip()[-2000:]


def _test() -> _Outcome:
    return _run(settings.NUSANTARA_NGINX_TEST_CMD)


# --- what a failure means, in words a person can act on (nginx's own text as the detail) ------


def _not_installed(outcome: _Outcome, setting: str) -> str:
    return _(
        "nginx is not installed: the program %(program)s was not found, so no change was made. "
        "Install nginx, or set %(setting)s to the command that runs it. (%(detail)s)"
    ) % {"program": outcome.argv0, "setting": setting, "detail": outcome.message}


def _refused(message: str) -> str:
    """nginx's test refused the new files: say which file and line when nginx names them."""
    where = _FILE_LINE.search(message)
    if where:
        return _(
            "nginx refused the configuration in %(file)s, line %(line)s; the previous "
            "configuration was kept. nginx says: %(message)s"
        ) % {"file": where.group(1), "line": where.group(2), "message": message}
    return _(
        "nginx refused the configuration; the previous configuration was kept. "
        "nginx says: %(message)s"
    ) % {"message": message}


def _reload_failed(outcome: _Outcome) -> str:
    if outcome.missing:
        return _not_installed(outcome, "NUSANTARA_NGINX_RELOAD_CMD")
    if _NOT_RUNNING.search(outcome.message):
        return _(
            "nginx is not running, so the change could not go live and was undone. Start "
            "nginx (for example: systemctl start nginx), then retry. nginx says: %(message)s"
        ) % {"message": outcome.message}
    return _("nginx could not reload, so the change was undone. nginx says: %(message)s") % {
        "message": outcome.message
    }


# --- the journal: what the files were before the running transaction -------------------------


def _journal_dir() -> Path:
    return Path(settings.NUSANTARA_DATA_DIR) / "nginx-journal"


def _journal_begin(domains: list[str]) -> dict[str, bool]:
    journal = _journal_dir()
    shutil.rmtree(journal, ignore_errors=True)
    journal.mkdir(parents=True)
    existed = {}
    for domain in domains:
        current = conf_path(domain)
        existed[domain] = current.is_file()
        if existed[domain]:
            shutil.copy2(current, journal / f"{domain}.conf")
    # The manifest is written last: its presence means "a transaction is open, undo it".
    _write_atomic(journal / "manifest.json", json.dumps(existed), mode=0o600)
    return existed


def _restore(domain: str, existed: bool) -> None:
    target = conf_path(domain)
    if existed:
        backup = _journal_dir() / f"{domain}.conf"
        _write_atomic(target, backup.read_text(encoding="utf-8"))
    else:
        target.unlink(missing_ok=True)


def _journal_end() -> None:
    shutil.rmtree(_journal_dir(), ignore_errors=True)


def _recover_journal() -> None:
    manifest = _journal_dir() / "manifest.json"
    if not manifest.exists():
        return
    existed = json.loads(manifest.read_text())
    logger.warning("nginx: undoing an interrupted change of %d vhost(s)", len(existed))
    for domain, had in existed.items():
        _restore(domain, had)
    _journal_end()


@contextmanager
def writer_lock() -> Iterator[None]:
    """One writer at a time across processes; re-entrant within a thread."""
    if getattr(_local, "depth", 0):
        _local.depth += 1
        try:
            yield
        finally:
            _local.depth -= 1
        return
    data_dir = Path(settings.NUSANTARA_DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "nginx.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _local.depth = 1
        _recover_journal()
        yield
    finally:
        _local.depth = 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _culprit(message: str, pending: set[str]) -> str | None:
    """The domain among `pending` whose vhost (or certificate) nginx's error names, if any."""
    conf_dir = Path(settings.NUSANTARA_NGINX_CONF_DIR)
    for ref in _CONF_REF.findall(message):
        path = Path(ref)
        if path.parent == conf_dir and path.name[: -len(".conf")] in pending:
            return path.name[: -len(".conf")]
    return None


def apply(changes: Mapping[str, str | None]) -> ApplyResult:
    """Apply {domain: vhost text, or None to remove} as one transaction; see the module doc."""
    result = ApplyResult()
    if not changes:
        return result
    conf_dir = Path(settings.NUSANTARA_NGINX_CONF_DIR)
    conf_dir.mkdir(parents=True, exist_ok=True)
    with writer_lock():
        # The current config must pass before we add to it. When nothing changed since the last
        # writer saw it pass (same files, same main config), that run stands in for a new one:
        # with 5,000 vhosts `nginx -t` costs ~260 ms, a third of a one-site change.
        if _fingerprint() != _verified():
            outcome = _test()
            result.tests += 1
            if not outcome.ok:
                result.rejected = dict.fromkeys(changes, _broken(outcome))
                return result
        served_before = {domain: served_names(domain) for domain in changes}
        existed = _journal_begin(list(changes))
        for domain, content in changes.items():
            _write_change(domain, content)
        pending = set(changes)
        baseline_broken = False
        while True:
            after = _test()
            result.tests += 1
            if after.ok:
                intruders = _new_conflicts(after.output, pending, changes, served_before)
                if not intruders:
                    break
                for domain, name in intruders.items():
                    _reject(domain, changes, existed, result, _conflict(name))
                    pending.discard(domain)
                continue
            message = after.message
            culprit = _culprit(message, pending)
            if culprit is None:
                for domain in pending:
                    _restore(domain, existed[domain])
                base = _test()
                result.tests += 1
                if not base.ok:  # broken without our changes (someone edited nginx meanwhile)
                    for domain in pending:
                        result.rejected[domain] = _broken(base)
                    pending.clear()
                    baseline_broken = True
                    break
                # nginx did not say which of our files it choked on: find out by halves.
                pending = _bisect(sorted(pending), changes, existed, result)
                break
            _reject(culprit, changes, existed, result, _refused(message))
            pending.discard(culprit)
        if pending and settings.NUSANTARA_NGINX_RELOAD_CMD.strip():
            reload = _run(settings.NUSANTARA_NGINX_RELOAD_CMD)
            if not reload.ok:
                for domain in pending:
                    _restore(domain, existed[domain])
                    result.rejected[domain] = _reload_failed(reload)
                pending.clear()
            else:
                result.reloaded = True
        _journal_end()
        for domain in pending:
            rejected_path(domain).unlink(missing_ok=True)
        result.applied = sorted(pending)
        # Every other path above ends on files that passed `nginx -t` (the new ones, or the
        # previous ones put back); remember that for the next writer.
        if not baseline_broken:
            _remember_verified()
    return result


_CONFLICT = re.compile(r'conflicting server name "([^"\s]+)"')


def _new_conflicts(
    message: str,
    pending: set[str],
    changes: Mapping[str, str | None],
    served_before: Mapping[str, set[str]],
) -> dict[str, str]:
    """{domain: name} for the pending changes that bring a name another vhost already serves.
    nginx only warns about it ("conflicting server name ... ignored") and answers with the
    first vhost it loaded, so the second copy would be silently served by someone else's site
    (or take the name from it). A vhost that served the name before keeps it."""
    conflicting = set(_CONFLICT.findall(message))
    found: dict[str, str] = {}
    if not conflicting:
        return found
    for domain in sorted(pending):
        content = changes[domain]
        if content is None:
            continue
        names = {n for m in _SERVER_NAME.finditer(content) for n in m[1].split()}
        brought = sorted((names & conflicting) - served_before.get(domain, set()))
        if brought:
            found[domain] = brought[0]
    return found


def _conflict(name: str) -> str:
    return _(
        "%(name)s is already served by another site's vhost on this server, so this change "
        "was not applied; the previous configuration was kept."
    ) % {"name": name}


def _broken(outcome: _Outcome) -> str:
    if outcome.missing:
        return _not_installed(outcome, "NUSANTARA_NGINX_TEST_CMD")
    where = _FILE_LINE.search(outcome.message)
    if where:
        return _(
            "nginx's current configuration is already broken in %(file)s, line %(line)s (not "
            "by this change), so no change was made. Fix that file first; nginx says: "
            "%(message)s"
        ) % {"file": where.group(1), "line": where.group(2), "message": outcome.message}
    return _(
        "nginx's current configuration is already broken, so no change was made. "
        "Fix it first; nginx says: %(message)s"
    ) % {"message": outcome.message}


def _main_config() -> Path:
    argv = shlex.split(settings.NUSANTARA_NGINX_TEST_CMD)
    if "-c" in argv[:-1]:
        return Path(argv[argv.index("-c") + 1])
    return Path("/etc/nginx/nginx.conf")


def _fingerprint() -> str:
    """The vhost directory and the main config as the last `nginx -t` saw them.

    O(1) on purpose (stat-ing 5,000 vhosts costs 0.2 s): a rename, create or delete in the
    directory moves its mtime. An in-place edit of one vhost slips past this, which is safe: the
    test after writing still fails, names no file of the batch, and the old config is tested."""
    parts = [settings.NUSANTARA_NGINX_TEST_CMD]
    for path in (Path(settings.NUSANTARA_NGINX_CONF_DIR), _main_config()):
        try:
            st = path.stat()
        except OSError:
            continue
        parts.append(f"{path}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _verified_file() -> Path:
    return Path(settings.NUSANTARA_DATA_DIR) / "nginx-verified"


def _verified() -> str:
    try:
        return _verified_file().read_text()
    except OSError:
        return ""


def _remember_verified() -> None:
    _write_atomic(_verified_file(), _fingerprint(), mode=0o600)


def _reject(
    domain: str,
    changes: Mapping[str, str | None],
    existed: dict[str, bool],
    result: ApplyResult,
    message: str,
) -> None:
    """Put the previous file back and keep the refused one beside it for inspection."""
    content = changes[domain]
    if content is not None:
        _write_atomic(rejected_path(domain), content)
    _restore(domain, existed[domain])
    result.rejected[domain] = message


def _write_change(domain: str, content: str | None) -> None:
    if content is None:
        conf_path(domain).unlink(missing_ok=True)
    else:
        _write_atomic(conf_path(domain), content)


def _bisect(
    domains: list[str],
    changes: Mapping[str, str | None],
    existed: dict[str, bool],
    result: ApplyResult,
) -> set[str]:
    """Starting from the previous (good) files, apply `domains` in halves until every change
    that nginx accepts is in place and every one it refuses is rejected. Returns the accepted."""
    for domain in domains:
        _write_change(domain, changes[domain])
    outcome = _test()
    result.tests += 1
    if outcome.ok:
        return set(domains)
    if len(domains) == 1:
        _reject(domains[0], changes, existed, result, _refused(outcome.message))
        return set()
    for domain in domains:
        _restore(domain, existed[domain])
    half = len(domains) // 2
    accepted = _bisect(domains[:half], changes, existed, result)
    return accepted | _bisect(domains[half:], changes, existed, result)


def sync_site(site: Site) -> None:
    """Render the site's vhost from the database and the certificate files, and apply it."""
    result = apply({site.domain: render_site(site)})
    if site.domain in result.rejected:
        raise NginxError(result.rejected[site.domain])


def remove_site(domain: str, root_path: str | None = None) -> None:
    """Remove the vhost (transactionally), then the document root and certificate files."""
    result = apply({domain: None})
    if domain in result.rejected:
        raise NginxError(result.rejected[domain])
    purge_site_files(domain, root_path)
