# syntax=docker/dockerfile:1
# Nusantara Panel images, one Dockerfile, three targets:
#   app   (default, last) gunicorn web server; the same image runs the worker (qcluster)
#   nginx the front nginx, built from the same Debian nginx package the app image uses for
#         `nginx -t`, so the worker tests exactly what nginx will load.
# Build: docker compose build   (or: docker build -t nusantara-panel . ; --target nginx)

ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- build: dependencies from uv.lock, static files, compiled translations ---
FROM ${PYTHON_IMAGE} AS build
# Translations are compiled in Python (manage.py compile_translations, polib): no gettext needed.
# Nothing of this stage but /app reaches the final image.
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.12 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock .python-version ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-install-project
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev
# Settings refuse to load without these when DEBUG is off; they are build-time placeholders,
# not baked into the image's environment.
RUN DEBUG=False SECRET_KEY=build-only ALLOWED_HOSTS=build NUSANTARA_DATA_DIR=/tmp/build \
        /app/.venv/bin/python manage.py collectstatic --noinput \
    && if [ -d locale ]; then \
        DEBUG=False SECRET_KEY=build-only ALLOWED_HOSTS=build NUSANTARA_DATA_DIR=/tmp/build \
        /app/.venv/bin/python manage.py compile_translations; \
    fi \
    && rm -rf /tmp/build var

# --- nginx: the front web server, unprivileged ---
FROM debian:bookworm-slim AS nginx
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d \
    && groupadd --gid 10001 nusantara \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin nusantara \
    && mkdir -p /data/certs /data/acme-challenge /srv/www /etc/nginx/nusantara-sites /run/nginx /tmp/nginx /var/log/nginx \
    && chown -R nusantara:nusantara /data /srv/www /etc/nginx/nusantara-sites /run/nginx /tmp/nginx /var/log/nginx
COPY deploy/docker/nginx.conf /etc/nginx/nginx.conf
USER 10001:10001
EXPOSE 80 443
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1/nginx-health"]
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]

# --- app: the runtime image (last stage, so a plain `docker build .` builds it) ---
FROM ${PYTHON_IMAGE} AS app
# nginx-light: only its binary and mime.types, so the worker can run `nginx -t` and
# `nginx -s reload` against the shared config; it never serves from this container.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d \
    && groupadd --gid 10001 nusantara \
    && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin nusantara \
    && mkdir -p /data/certs /data/acme-challenge /srv/www /etc/nginx/nusantara-sites /run/nginx /tmp/nginx /var/log/nginx \
    && chown -R nusantara:nusantara /data /srv/www /etc/nginx/nusantara-sites /run/nginx /tmp/nginx /var/log/nginx
COPY deploy/docker/nginx.conf /etc/nginx/nginx.conf
COPY --from=build --chown=root:root /app /app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEBUG=False \
    NUSANTARA_DATA_DIR=/data \
    NUSANTARA_WEB_ROOT=/srv/www \
    NUSANTARA_NGINX_CONF_DIR=/etc/nginx/nusantara-sites \
    NUSANTARA_NGINX_TEST_CMD="nginx -t -q -e stderr" \
    NUSANTARA_NGINX_RELOAD_CMD="nginx -s reload -e stderr" \
    GUNICORN_BIND=0.0.0.0:8000 \
    FORWARDED_ALLOW_IPS=*
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "manage.py", "healthcheck", "--web"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py"]
