"""Documentation that is generated must be current, and must list every key the parser reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.config_reference import render, undocumented
from spec.defaults import KEYS
from spec.parse import parse
from spec.pool import check_pool_keys
from spec.problems import Problems
from spec.reader import Reader

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "configuration.md"

# Reaches every branch of the parser that reads keys: a node with a taint object and a bastion, a
# top-level bastion, kubeProxy.conntrackMaxPerCore (read only when set). Empty sections suffice
# elsewhere: the parser asks for each key of a section whether or not it is set.
BRANCHES = {
    "nodes": [
        {
            "name": "a",
            "address": "10.0.0.1",
            "roles": ["etcd", "control-plane", "worker"],
            "taints": [{"key": "k", "effect": "NoSchedule"}],
            "ssh": {"bastion": {"host": "b"}},
        }
    ],
    "ssh": {"bastion": {"host": "b"}},
    "kubeProxy": {"conntrackMaxPerCore": 0},
}


def keys_the_parser_reads() -> set[str]:
    read: set[str] = set()
    parse(BRANCHES, "docs", declared=read)
    check_pool_keys({"pool": {"cluster": "dev"}}, Problems(), declared=read)
    return read


def test_configuration_reference_is_current() -> None:
    assert DOCS.read_text() == render(), "run: .venv/bin/python scripts/config_reference.py"


def test_every_key_the_parser_reads_is_documented() -> None:
    read = keys_the_parser_reads()
    assert undocumented(read, DOCS.read_text()) == []
    assert read == set(KEYS), "a declared key nothing reads, or a branch BRANCHES misses"


def test_the_check_fails_for_a_key_missing_from_the_docs() -> None:
    read = keys_the_parser_reads() | {"network.notDocumented"}
    assert undocumented(read, DOCS.read_text()) == ["network.notDocumented"]


def test_the_parser_cannot_read_an_undeclared_key() -> None:
    with pytest.raises(KeyError, match=r"network\.notDeclared"):
        Reader({}, "network", Problems()).text("notDeclared")
