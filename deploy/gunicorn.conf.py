"""gunicorn settings for Nusantara Panel (Docker and systemd use the same file).

Everything can be overridden from the environment, so the same file serves a 1-CPU VPS and a
bigger host: GUNICORN_BIND, WEB_CONCURRENCY (processes), GUNICORN_THREADS, GUNICORN_TIMEOUT.
"""

import multiprocessing
import os

wsgi_app = "nusantara.wsgi:application"

# Docker publishes 0.0.0.0:8000 inside its network; on bare metal the unit binds loopback only.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# gthread: a few threads per process keep slow clients and the htmx job polling from tying up
# whole processes; every request is short (side effects run in the worker, not here).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))

timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5

# Recycle processes now and then so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200

# nginx in front sets X-Forwarded-Proto; trust it only from the proxies we know.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# No query strings in the access log: a reset token or search term is nobody's business.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# /dev/shm for the heartbeat files: Docker's overlay filesystem can stall on fsync.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
