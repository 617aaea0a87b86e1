"""The replay's engine-like `up` over saved state, without hosts: providers seeded from the saved
graph keep their keys, so a second evaluation differs only where the program's inputs do."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.graph_diff import owned_by
from bench.stacks import bench_config, with_worker_added
from tests.harness import mocks
from tests.harness.program import run_program
from tests.harness.replay import Changes, load_graph, save_graph, seed_providers


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mocks, "MEMO_ENABLED", False)
    monkeypatch.setattr(mocks, "_memo", {})


def test_without_the_state_every_key_and_everything_using_it_changes() -> None:
    raw, secret = bench_config(4)
    first, second = run_program(raw, "bench", secret), run_program(raw, "bench", secret)
    assert Changes.between(first, second).update  # the check below can fail


def test_an_up_over_saved_state_changes_nothing(tmp_path: Path) -> None:
    raw, secret = bench_config(4)
    saved = tmp_path / "state.json"
    save_graph(run_program(raw, "bench", secret), saved)
    old = load_graph(saved)  # what a later `up` reads back, through JSON
    seed_providers(old)
    again = run_program(raw, "bench", secret)
    assert Changes.between(old, again).names(old, again) == {"create": [], "update": [], "delete": []}


def test_adding_a_worker_creates_only_its_own_resources_and_removing_it_deletes_them(tmp_path: Path) -> None:
    raw, secret = bench_config(4)
    saved = tmp_path / "state.json"
    save_graph(run_program(raw, "bench", secret), saved)
    old = load_graph(saved)
    seed_providers(old)
    bigger_raw, node = with_worker_added(raw)
    bigger = run_program(bigger_raw, "bench", secret)
    changes = Changes.between(old, bigger)
    names = changes.names(old, bigger)
    assert names["update"] == [] and names["delete"] == []
    assert names["create"] and all(owned_by(n, node) for n in names["create"]), names["create"]
    back = Changes.between(bigger, old)
    assert back.delete == changes.create and not back.create and not back.update
