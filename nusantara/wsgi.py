"""WSGI entry point (gunicorn nusantara.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nusantara.settings")
application = get_wsgi_application()
