"""The engine bench's node pool figures (bench/engine_pool.py): the pool stack's config, its
resources told apart by node, the summary by operation, and the phases' order and names."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime.sync_await import _sync_await

from bench import engine
from bench import engine_pool as ep
from bench import run as bench_run
from bench.fake_site import FakeSite
from bench.graph_diff import blast_radius
from bench.stacks import STACK, bench_config, with_worker_added
from mockrun import mocks
from mockrun.program import run_program
from spec import load_pool_spec, load_spec
from spec.pool import POOL_KEYS, cluster_settings
from tests.support.bench import mocks_size

# --- the pool stack's config ------------------------------------------------------------------


def _cluster(nodes: int) -> tuple[Any, dict[str, Any]]:
    raw, secret = bench_config(nodes)
    spec, _ = load_spec(raw, STACK, frozenset(secret))
    return spec, raw


@pytest.mark.parametrize("nodes", [10, 500])
def test_the_bench_pool_joins_the_bench_cluster_as_its_pool_program_reads_it(nodes: int) -> None:
    """Validated as the pool program validates it: the cluster's settings (with its added
    worker, as the bench's cluster holds it then) and the pool's own workers, no clash."""
    spec, raw = _cluster(nodes)
    added, _ = with_worker_added(raw)
    spec, _ = load_spec(added, STACK, frozenset({"ssh"}))
    pool_raw, secret = ep.pool_config(STACK, 20)
    assert set(pool_raw) == set(POOL_KEYS) and pool_raw["pool"] == {"cluster": STACK}
    asked: list[str] = []

    def read(name: str) -> dict[str, Any]:
        asked.append(name)
        return cluster_settings(spec, added)

    got, pool, warnings = load_pool_spec(pool_raw, ep.POOL_STACK, frozenset(secret), read)
    assert asked == [STACK] and not warnings
    assert [n.name for n in pool.members] == [f"p{i}" for i in range(1, 21)]
    assert all(n.roles == {"worker"} for n in pool.members)
    assert got.cluster_name == spec.cluster_name == STACK  # its resources are named bench-pool-*
    cluster_addresses = {n.address for n in spec.nodes}
    assert not cluster_addresses & set(ep.addresses(pool_raw))


def test_pool_addresses_are_apart_from_the_clusters_ranges() -> None:
    spec, _ = _cluster(500)
    pool_raw, _ = ep.pool_config(STACK, 1000)
    nets = [ipaddress.ip_network(c) for c in (spec.network.pod_cidr, spec.network.service_cidr)]
    found = [ipaddress.ip_address(a) for a in ep.addresses(pool_raw)]
    assert len(set(found)) == 1000
    assert all(a in ipaddress.ip_network("10.22.0.0/16") for a in found)
    assert not any(a in net for a in found for net in nets)


def test_one_worker_more_in_the_pool_is_appended_under_a_new_name() -> None:
    raw, _ = ep.pool_config(STACK, 3)
    added, name = ep.with_pool_worker_added(raw)
    assert name == "p4" and added["nodes"][:-1] == raw["nodes"] and added["nodes"][-1]["name"] == name
    assert len(raw["nodes"]) == 3  # the original is untouched
    assert added == ep.pool_config(STACK, 4)[0]  # as a pool of 4 lists it: labelled as its peers
    assert {k: v for k, v in added.items() if k != "nodes"} == {k: v for k, v in raw.items() if k != "nodes"}
    with pytest.raises(ValueError):
        ep.pool_config(STACK, 0)


def test_the_pool_stack_file_holds_pool_cluster_and_the_encrypted_key() -> None:
    raw, _ = ep.pool_config(STACK, 2)
    text = engine.stack_file(raw, "encryptionsalt: v1:pool", "v1:ciphertext")
    config = yaml.safe_load(text)["config"]
    assert config["k8s-from-scratch:pool"] == {"cluster": STACK}
    assert config["k8s-from-scratch:ssh"] == {"user": "root", "privateKey": {"secure": "v1:ciphertext"}}
    assert set(config) == {f"k8s-from-scratch:{k}" for k in POOL_KEYS}


def test_adding_a_pool_worker_changes_only_that_workers_resources_under_the_mocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What pool_add_worker_up's `others` counts on: the pool's resources carry their node's name
    as bench.graph_diff.owned_by reads it, and the pool's other resources do not move."""
    monkeypatch.setattr(mocks, "MEMO_ENABLED", True)
    cluster_raw, secret = bench_config(4)
    out = run_program(cluster_raw, STACK, secret).exports["pool"]
    pool_output = _sync_await(out.future())
    raw, pool_secret = ep.pool_config(STACK, 3)
    added, name = ep.with_pool_worker_added(raw)
    before = run_program(raw, ep.POOL_STACK, pool_secret, read_cluster=lambda _: pool_output)
    after = run_program(added, ep.POOL_STACK, pool_secret, read_cluster=lambda _: pool_output)
    radius = blast_radius(before.registrations, after.registrations, name)
    assert radius["count"] == 0, radius
    assert radius["own"]["added"] > 0 and radius["own"]["changed"] == radius["own"]["removed"] == 0
    custom = [r.name for r in after.registrations if r.custom]
    assert all(r.startswith(f"{STACK}-pool-") for r in custom)
    assert len([r for r in custom if r.startswith(f"{STACK}-pool-host-{name}-")]) >= 2


# --- the figures -------------------------------------------------------------------------------------


def _figures(seconds: float, **more: Any) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "cpu_seconds": seconds / 2,
        "peak_mb": 10 * seconds,
        "engine_peak_mb": seconds,
        **more,
    }


def _stack_add(seconds: float) -> dict[str, Any]:
    return _figures(seconds, node="w8", own={"create": 13}, others=[])


def _pool(scale: float, state: int = 1000) -> dict[str, Any]:
    return {
        "stack": ep.POOL_STACK,
        "size": 20,
        "pool_preview": _figures(6 * scale, resources=230),
        "pool_up": _figures(30 * scale),
        "state": {"bytes": state},
        "pool_noop_up": _figures(5 * scale, changed=[]),
        "pool_add_worker_up": _figures(10 * scale, node="p21", own={"create": 13}, others=[]),
    }


def test_the_pool_summary_is_by_operation_and_cluster_size() -> None:
    sizes = {
        "10": {"resources": 258, "add_worker_up": _stack_add(10.0), "pool": _pool(1.0)},
        "50": {"resources": 738, "add_worker_up": _stack_add(20.0), "pool": _pool(1.1, 1200)},
        "200": {"resources": 2538, "timed_out": {"phase": "initial_up", "seconds": 1800.0}},
    }
    summary = ep.summarise_pool(sizes)
    assert summary["pool_add_worker_up_seconds_by_nodes"] == {"10": 10.0, "50": 11.0}
    assert summary["pool_up_peak_mb_by_nodes"] == {"10": 300.0, "50": 330.0}
    assert summary["pool_noop_up_cpu_seconds_by_nodes"] == {"10": 2.5, "50": 2.75}
    assert summary["pool_resources_by_nodes"] == {"10": 230, "50": 230}
    assert summary["pool_state_bytes_by_nodes"] == {"10": 1000, "50": 1200}
    scaling = summary["pool_scaling"]
    assert scaling["cluster_sizes"] == ["10", "50"]
    assert scaling["by_cluster_size"]["pool_up"] == {
        "seconds": 1.1,
        "cpu_seconds": 1.1,
        "peak_mb": 1.1,
        "engine_peak_mb": 1.1,
    }
    versus = scaling["add_worker_vs_stack"]
    assert versus["stack_nodes"] == "10" and versus["stack"]["seconds"] == 10.0
    assert versus["pool_over_stack"] == {
        "10": dict.fromkeys(ep.FIGURES, 1.0),
        "50": dict.fromkeys(ep.FIGURES, 1.1),
    }


def test_a_pool_cut_short_keeps_what_it_finished() -> None:
    unfinished = {k: v for k, v in _pool(1.0).items() if k not in ("pool_noop_up", "pool_add_worker_up")}
    sizes = {
        "10": {"add_worker_up": _stack_add(10.0), "pool": _pool(1.0)},
        "50": {"pool": unfinished, "timed_out": {"phase": "pool_noop_up", "seconds": 1500.0}},
    }
    summary = ep.summarise_pool(sizes)
    assert summary["pool_noop_up_seconds_by_nodes"] == {"10": 5.0}
    assert summary["pool_up_seconds_by_nodes"] == {"10": 30.0, "50": 30.0}
    assert set(summary["pool_scaling"]["by_cluster_size"]) == {"pool_preview", "pool_up"}
    assert summary["pool_scaling"]["add_worker_vs_stack"]["pool_over_stack"] == {
        "10": dict.fromkeys(ep.FIGURES, 1.0)
    }
    assert engine.summarise_engine(sizes)["timed_out"] == {
        "50": {"phase": "pool_noop_up", "after_seconds": 1500.0}
    }
    assert ep.summarise_pool({"10": {"preview": _figures(1.0)}})["pool_scaling"] == {"cluster_sizes": []}


def test_the_pool_table_sits_beside_the_stacks_add_worker(capsys: pytest.CaptureFixture[str]) -> None:
    sizes = {
        "10": {"resources": 258, "add_worker_up": _stack_add(10.0), "pool": _pool(1.0)},
        "50": {"resources": 738, "pool": {"size": 20, "pool_preview": _figures(6.0, resources=230)}},
    }
    lines = ep.pool_table({"sizes": sizes})
    assert lines[0].startswith("node pool of 20 workers")
    assert "     10.0/   100" in lines[2] and lines[2].split()[:2] == ["10", "230"]
    assert any("pool add p21: own {'create': 13}, others none" in line for line in lines)
    assert ep.pool_table({"sizes": {"10": {"resources": 258}}}) == []
    engine.print_engine({"sizes": sizes, **engine.summarise_engine(sizes), **ep.summarise_pool(sizes)})
    assert "node pool of 20 workers" in capsys.readouterr().out


def test_run_results_carry_the_pool_figures_and_the_plot_draws_them(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from bench.plot import plot

    one = mocks_size()
    sizes = {
        "10": {"resources": 258, "add_worker_up": _stack_add(10.0), "pool": _pool(1.0)},
        "50": {"resources": 738, "add_worker_up": _stack_add(20.0), "pool": _pool(1.0)},
    }
    section = {"sizes": sizes, **engine.summarise_engine(sizes), **ep.summarise_pool(sizes)}
    results = bench_run.summarise([one], {}, {"skipped": "test"}, section)
    assert results["engine"]["pool_add_worker_up_seconds_by_nodes"] == {"10": 10.0, "50": 10.0}
    plot(results, tmp_path / "latest.png")
    assert (tmp_path / "latest.png").stat().st_size > 0


def test_a_size_whose_pool_ran_out_of_time_is_not_plotted_as_timed_out() -> None:
    from bench.plot import timed_out_points

    timed_out = {
        "200": {"phase": "pool_up", "after_seconds": 1800.0},
        "500": {"phase": "initial_up", "after_seconds": 1801.0},
    }
    assert timed_out_points({"timed_out": timed_out}) == {500: 1801.0}
    assert timed_out_points({}) == {}


# --- the phases --------------------------------------------------------------------------------------


def _step(op: str, name: str) -> engine.Step:
    return engine.Step(
        op, f"urn:pulumi:{ep.POOL_STACK}::k8s-from-scratch::k8s-from-scratch:index:NodePool$x::{name}"
    )


class Recorder(ep.PoolBench):
    """A PoolBench whose commands are not run: it records what was asked, in which phase."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(Path("/nonexistent/pulumi"), workdir, FakeSite(workdir), deadline=0.0)
        self.calls: list[tuple[str, str]] = []
        self.site = self  # type: ignore[assignment]

    def add_addresses(self, found: list[str]) -> None:
        self.calls.append(("addresses", ",".join(found)))

    def init_stack(self, raw: dict[str, Any], private_key: str) -> None:
        self.calls.append(("init", f"{len(raw['nodes'])} {private_key}"))

    def write_config(self, raw: dict[str, Any]) -> None:
        self.calls.append(("config", str(len(raw["nodes"]))))

    def preview(self) -> tuple[dict[str, Any], list[engine.Step]]:
        self.phase = "preview"
        self.calls.append(("preview", self.phase))
        return _figures(6.0, resources=3, ops={"create": 3}), []

    def up(self, what: str, *extra: str) -> tuple[dict[str, Any], list[engine.Step]]:
        self.phase = what
        self.calls.append(("up", self.phase))
        steps = [_step("same", "bench-pool-host-p1-prepare")]
        if what == "pool_add_worker_up":
            steps += [_step("create", f"bench-pool-host-p3-{p}") for p in ("prepare", "binaries")]
        return _figures(9.0, resources=len(steps), ops=engine.op_counts(steps)), steps

    def export(self, secrets: bool = False) -> str:
        return '{"deployment": {"resources": [{"urn": "u::x", "type": "t"}]}}'


def test_the_pool_phases_run_in_order_and_are_recorded_under_pool(tmp_path: Path) -> None:
    bench = Recorder(tmp_path)
    assert bench.phase == "pool_setup" and bench.stack == ep.POOL_STACK
    assert bench.stack_path.name == f"Pulumi.{ep.POOL_STACK}.yaml"
    result: dict[str, Any] = {"nodes": 10, "add_worker_up": {}}
    ep.measure_pool(bench, 2, "KEY", result)
    assert bench.calls == [
        ("addresses", "10.22.0.2,10.22.0.3,10.22.0.4"),
        ("init", "2 KEY"),
        ("preview", "pool_preview"),
        ("up", "pool_up"),
        ("up", "pool_noop_up"),
        ("config", "3"),
        ("up", "pool_add_worker_up"),
    ]
    pool = result["pool"]
    assert (pool["stack"], pool["size"], pool["cluster_nodes"]) == (ep.POOL_STACK, 2, 11)
    assert [k for k in pool if k.startswith("pool_")] == list(ep.PHASES)
    assert pool["pool_noop_up"]["changed"] == []
    assert pool["state"]["resources"] == 1
    add = pool["pool_add_worker_up"]
    assert add["node"] == "p3" and add["own"] == {"create": 2} and add["only_that_worker"]


def test_the_pool_bench_shares_the_clusters_folder_backend_and_deadline(tmp_path: Path) -> None:
    cluster = engine.Bench(Path("/nonexistent/pulumi"), tmp_path, FakeSite(tmp_path), deadline=123.0)
    cluster.started = 5.0
    pool = ep.pool_bench(cluster)
    assert (pool.project, pool.deadline, pool.started, pool.site) == (
        cluster.project,
        123.0,
        5.0,
        cluster.site,
    )
    assert pool.env["PULUMI_BACKEND_URL"] == cluster.env["PULUMI_BACKEND_URL"]
    assert cluster.stack == STACK and cluster.stack_path.name == f"Pulumi.{STACK}.yaml"
    pool.phase = "pool_up"
    assert pool.phase == "pool_up"
