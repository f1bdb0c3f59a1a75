"""The audit tests start from an empty log (force_login itself records an auth.login entry)."""

import pytest

from panel.audit.models import AuditLog


@pytest.fixture
def admin_client(admin_client):
    AuditLog.objects.all().delete()
    return admin_client
