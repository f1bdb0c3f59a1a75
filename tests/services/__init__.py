"""Real services the suite starts on free loopback ports (nginx, php-fpm, Pebble, worker)."""
