# Sourced by bin/run. Embedded default: when no php-fpm socket is configured, run a private
# php-fpm master under ./var/php-fpm with one shared pool on ./var/php-fpm/php.sock (what
# NUSANTARA_PHP_FPM_SOCKET points at), so PHP sites work in the quick start with isolation off.
# The master stays in the foreground (daemonize = no) as a child of bin/run, which stops it.
embedded_php_fpm_stop() { :; }
if [ -z "${NUSANTARA_PHP_FPM_SOCKET:-}" ]; then
  data="${NUSANTARA_DATA_DIR:-$PWD/var}"
  pd="$data/php-fpm"
  export NUSANTARA_PHP_FPM_SOCKET="$pd/php.sock"
  fpm=""
  for name in php-fpm8.2 php-fpm php-fpm8.4 php-fpm8.3 php-fpm8.1; do
    fpm="$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v "$name" || true)"
    [ -n "$fpm" ] && break
  done
  if [ -z "$fpm" ]; then
    echo "php-fpm is not installed: PHP sites will fail (apt-get install php-fpm); static and proxy sites work." >&2
  else
    mkdir -p "$pd"
    # Uploads up to nginx's client_max_body_size; anything but a plain size falls back to 64M.
    size="$(printf %s "${NUSANTARA_MAX_BODY_SIZE:-64m}" | tr kmg KMG)"
    [[ "$size" =~ ^[1-9][0-9]{0,8}[KMG]?$ ]] || size=64M
    # As root, PHP runs as nobody with nginx's group (never as root); otherwise as you.
    user_lines=""
    if [ "$(id -u)" = 0 ]; then
      group="${NUSANTARA_NGINX_GROUP:-www-data}"
      getent group "$group" >/dev/null 2>&1 || group=nogroup
      user_lines="user = nobody
group = $group
listen.owner = root
listen.group = $group"
      chmod 0755 "$pd"
      # nobody must be able to walk down to the sites' files (a checkout under /root cannot).
      web_root="${NUSANTARA_WEB_ROOT:-$data/www}"
      mkdir -p "$web_root"
      dir="$(cd "$web_root" && pwd -P)"
      while [ "$dir" != / ]; do
        if [ "$(( $(stat -c %a "$dir" | sed 's/^/0/') & 1 ))" = 0 ]; then
          echo "Embedded php-fpm runs PHP as nobody, which cannot enter $dir: PHP sites will fail. Run bin/run as a normal user, or keep the checkout where others may enter." >&2
          break
        fi
        dir="$(dirname "$dir")"
      done
    fi
    cat > "$pd/php-fpm.conf" <<CONF
; Written by bin/run: the quick start's private php-fpm (isolation off, one shared pool).
[global]
pid = $pd/php-fpm.pid
error_log = $pd/error.log
daemonize = no
process_control_timeout = 10s

[nusantara]
$user_lines
listen = $pd/php.sock
listen.mode = 0660
pm = ondemand
pm.max_children = 5
pm.process_idle_timeout = 10s
catch_workers_output = yes
php_admin_value[upload_max_filesize] = $size
php_admin_value[post_max_size] = $size
CONF
    if [ -f "$pd/php-fpm.pid" ] && kill -0 "$(cat "$pd/php-fpm.pid")" 2>/dev/null; then
      kill -QUIT "$(cat "$pd/php-fpm.pid")" 2>/dev/null || true  # a master left by an earlier run
      sleep 0.5
    fi
    rm -f "$pd/php.sock"
    "$fpm" -F -y "$pd/php-fpm.conf" 2>>"$pd/error.log" &
    fpm_pid=$!
    for _ in $(seq 50); do
      [ -S "$pd/php.sock" ] && break
      kill -0 "$fpm_pid" 2>/dev/null || break
      sleep 0.1
    done
    if [ -S "$pd/php.sock" ]; then
      echo "Embedded php-fpm: PHP sites run through $pd/php.sock"
      embedded_php_fpm_stop() {
        kill -QUIT "$fpm_pid" 2>/dev/null || return 0
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$fpm_pid" 2>/dev/null || return 0; sleep 0.3; done
        kill -KILL "$fpm_pid" 2>/dev/null || true
      }
    else
      kill -KILL "$fpm_pid" 2>/dev/null || true
      echo "Embedded php-fpm did not start (see $pd/error.log): PHP sites will fail." >&2
    fi
  fi
fi
