"""Tenancy: each site is its customer's own home (system user, home, php-fpm pool), and the
root helper's client. See DESIGN.md "Tenancy" and docs/operations.md "Isolation"."""
