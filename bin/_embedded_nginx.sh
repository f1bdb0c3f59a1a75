# Sourced by bin/run. Embedded default: when nginx is installed and no nginx commands are
# configured, run a private nginx under ./var/nginx that serves the panel's vhosts on
# 127.0.0.1:8080 (HTTPS 8443), so sites created in the quick start are really served.
embedded_nginx_stop() { :; }
if [ -z "${NUSANTARA_NGINX_TEST_CMD:-}" ] && command -v nginx >/dev/null 2>&1; then
  data="${NUSANTARA_DATA_DIR:-$PWD/var}"
  nd="$data/nginx"
  conf_dir="${NUSANTARA_NGINX_CONF_DIR:-$nd/sites}"
  export NUSANTARA_HTTP_LISTEN="${NUSANTARA_HTTP_LISTEN:-127.0.0.1:8080}"
  export NUSANTARA_HTTPS_LISTEN="${NUSANTARA_HTTPS_LISTEN:-127.0.0.1:8443}"
  mkdir -p "$conf_dir" "$nd/tmp"
  mime=/etc/nginx/mime.types
  [ -f "$mime" ] || mime="$(dirname "$(command -v nginx)")/../conf/mime.types"
  # As root, workers would run as nobody and could not read a web root inside a home directory.
  user_line=""
  [ "$(id -u)" = 0 ] && user_line="user root;"
  cat > "$nd/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $nd/nginx.pid;
error_log $nd/error.log warn;
events { worker_connections 512; }
http {
    include $mime;
    default_type application/octet-stream;
    access_log $nd/access.log;
    client_body_temp_path $nd/tmp/body;
    proxy_temp_path $nd/tmp/proxy;
    fastcgi_temp_path $nd/tmp/fastcgi;
    uwsgi_temp_path $nd/tmp/uwsgi;
    scgi_temp_path $nd/tmp/scgi;
    server_names_hash_bucket_size 512;
    server_names_hash_max_size 65536;
    server { listen $NUSANTARA_HTTP_LISTEN default_server; return 404; }
    include $conf_dir/*.conf;
}
CONF
  export NUSANTARA_NGINX_CONF_DIR="$conf_dir"
  export NUSANTARA_NGINX_TEST_CMD="nginx -q -t -p '$nd' -c '$nd/nginx.conf'"
  export NUSANTARA_NGINX_RELOAD_CMD="nginx -s reload -p '$nd' -c '$nd/nginx.conf'"
  if [ -f "$nd/nginx.pid" ] && kill -0 "$(cat "$nd/nginx.pid")" 2>/dev/null; then
    nginx -s stop -p "$nd" -c "$nd/nginx.conf" 2>/dev/null || true
    sleep 0.5
  fi
  if nginx -p "$nd" -c "$nd/nginx.conf" 2>"$nd/start.log"; then
    echo "Embedded nginx: sites are served on http://$NUSANTARA_HTTP_LISTEN/ (by Host header)"
    embedded_nginx_stop() { nginx -s stop -p "$nd" -c "$nd/nginx.conf" 2>/dev/null || true; }
  else
    {
      echo "Embedded nginx could not start, so the panel was not started either. nginx says:"
      sed 's/^/  /' "$nd/start.log"
      if grep -q "Address already in use" "$nd/start.log"; then
        echo "Another program uses $NUSANTARA_HTTP_LISTEN: stop it, or choose a free address,"
        echo "e.g. NUSANTARA_HTTP_LISTEN=127.0.0.1:8081 bin/run."
      fi
      echo "To use an nginx of your own instead, set NUSANTARA_NGINX_TEST_CMD (docs/operations.md)."
    } >&2
    exit 1
  fi
fi
