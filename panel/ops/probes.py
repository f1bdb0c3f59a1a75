"""The network probes of nginx and php-fpm on this machine (a TCP connect to nginx's HTTP
listener, a connect to a php-fpm socket): the dashboard shows them (panel/web/health.py) and a
node's worker reports them with its heartbeat (panel/ops/heartbeat.py). No subprocess, ever."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 0.5

OK, DOWN, UNKNOWN = "ok", "down", "unknown"


def _state(state: str, reason: str = "") -> dict[str, str]:
    return {"state": state, "reason": reason}


def _safe(probe: Callable[[], Any], default: Any = None) -> Any:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - the dashboard must render even if a probe breaks
        # The default shows as "not seen" (never as fine); the log says what broke.
        logger.exception("health probe %s failed", getattr(probe, "__name__", probe))
        return default


def probe_nginx() -> dict[str, str]:
    """nginx is up when its HTTP listener accepts a connection (its master holds the socket)."""
    from panel.certificates.preflight import local_http_address

    host, port = local_http_address()
    where = f"{host}:{port}"
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
    except ConnectionRefusedError:
        return _state(
            DOWN, _("nothing listens on %(addr)s: nginx is not running.") % {"addr": where}
        )
    except OSError as exc:
        return _state(
            DOWN,
            _("%(addr)s did not accept a connection (%(error)s).") % {"addr": where, "error": exc},
        )
    return _state(OK, _("answers on %(addr)s") % {"addr": where})


def _fpm_sockets() -> list[Path]:
    shared = Path(settings.NUSANTARA_PHP_FPM_SOCKET)
    found = [shared] if shared.exists() else []
    with contextlib.suppress(OSError):
        found += sorted(Path(settings.NUSANTARA_PHP_FPM_SOCKET_DIR).glob("*.sock"))[:3]
    return found


def probe_phpfpm() -> dict[str, str]:
    """php-fpm is up when one of its sockets accepts a connection (the master holds them all,
    even for `pm = ondemand` pools with no child running)."""
    sockets = _fpm_sockets()
    if not sockets:
        return _state(
            UNKNOWN,
            _("no php-fpm socket at %(socket)s or in %(dir)s (no PHP site yet?)")
            % {
                "socket": settings.NUSANTARA_PHP_FPM_SOCKET,
                "dir": settings.NUSANTARA_PHP_FPM_SOCKET_DIR,
            },
        )
    errors = []
    for path in sockets:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            try:
                sock.connect(str(path))
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
                continue
        return _state(OK, _("answers on %(socket)s") % {"socket": path})
    return _state(
        DOWN,
        _("php-fpm is not running: its sockets refuse connections (%(errors)s).")
        % {"errors": "; ".join(errors)},
    )
