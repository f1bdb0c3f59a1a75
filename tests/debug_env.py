"""Loaded by pytest before Django (addopts `-p tests.debug_env`): the test settings.

The panel's DEBUG default is off (production); the tests run the embedded development setup, so
they say so here, before pytest-django imports the settings. Subprocesses the tests start (the
worker, manage.py) inherit it through the environment. A value set by the caller wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "True")
