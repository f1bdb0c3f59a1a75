"""NUSANTARA_NODE: the worker's queue name comes from it, so it follows the node-name grammar,
and a conflicting Q_CLUSTER_NAME is refused. Settings are read at import: a subprocess each."""

from __future__ import annotations

import pytest

from tests.test_settings import SETUP, run

PRINT = SETUP + "; from django_q.conf import Conf; print(Conf.CLUSTER_NAME, Conf.PREFIX)"


def test_without_nusantara_node_the_worker_is_the_local_node(tmp_path):
    result = run(tmp_path, "-c", PRINT, DEBUG="True")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["local", "nusantara"]


def test_nusantara_node_names_the_queue_and_keeps_the_prefix(tmp_path):
    result = run(tmp_path, "-c", PRINT, DEBUG="True", NUSANTARA_NODE="web-2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["web-2", "nusantara"]


@pytest.mark.parametrize("name", ["Web2", "web_2", "-web", "web-", "a" * 64, "web 2", "w;x"])
def test_a_node_name_outside_the_grammar_refuses_to_start(tmp_path, name):
    result = run(tmp_path, "-c", SETUP, DEBUG="True", NUSANTARA_NODE=name)
    assert result.returncode != 0
    assert "NUSANTARA_NODE must be 1-63 lower-case letters" in result.stderr


def test_a_conflicting_q_cluster_name_is_refused(tmp_path):
    result = run(
        tmp_path, "-c", SETUP, DEBUG="True", NUSANTARA_NODE="web-2", Q_CLUSTER_NAME="web-3"
    )
    assert result.returncode != 0
    assert "Q_CLUSTER_NAME differs from NUSANTARA_NODE" in result.stderr


def test_a_node_named_like_the_queue_prefix_refuses_to_start(tmp_path):
    """Attack: NUSANTARA_NODE=nusantara makes the worker django-q2's default cluster (its name
    equals the prefix): it would run every schedule left without a node and read the old shared
    queue of the embedded default, failing other nodes' jobs as "not mine"."""
    result = run(tmp_path, "-c", SETUP, DEBUG="True", NUSANTARA_NODE="nusantara")
    assert result.returncode != 0
    assert "NUSANTARA_NODE cannot be nusantara" in result.stderr
