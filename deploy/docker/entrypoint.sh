#!/bin/sh
# Entry point of the app image: run the command given (gunicorn by default), after making sure
# the directories the panel writes exist in freshly created volumes.
set -eu
mkdir -p "${NUSANTARA_DATA_DIR:-/data}" "${NUSANTARA_WEB_ROOT:-/srv/www}" \
    "${NUSANTARA_NGINX_CONF_DIR:-/etc/nginx/nusantara-sites}" /tmp/nginx
exec "$@"
