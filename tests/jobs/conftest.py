"""The jobs tests run on the same footing as the sites tests (fast hasher, the suite's nginx)."""

from tests.sites.conftest import _fast_hasher, _nginx_settings  # noqa: F401
