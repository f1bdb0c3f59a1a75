"""Fixtures for the node tests."""

from __future__ import annotations

import pytest

from panel.nodes.models import Node


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def local_node(db):
    return Node.local()


@pytest.fixture
def node_b(db):
    return Node.objects.create(name="node-b", address="10.0.0.2")
