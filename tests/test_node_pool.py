"""Node pools (spec/pool.py, components/node_pool.py): a pool stack's spec is its cluster's with
its own workers, and its program builds those workers and nothing else."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.sync_await import _sync_await

from components.stack_config import whole_numbers
from mockrun.program import STACKS, TEST_SSH_KEY, Graph, preset_config, run_preset, run_program
from render import kubelet as kl
from render import node_pool as np
from spec import ClusterSpec, SpecError, load_pool_spec, load_spec
from spec.pool import cluster_settings, node_settings, stack_reference
from tests.support.tools import shellcheck, with_vars

CLUSTER = STACKS / "Pulumi.ha-calico.yaml"
CLUSTER_STACK = "ha-calico"
MEMBERS: list[dict[str, Any]] = [
    {"name": "pool-1", "address": "10.20.0.51", "roles": ["worker"], "labels": {"tier": "batch"}},
    {"name": "pool-2", "address": "10.20.0.52", "roles": ["worker"]},
]
POOL = {"pool": {"cluster": CLUSTER_STACK}, "nodes": MEMBERS, "ssh": {"privateKey": TEST_SSH_KEY}}
SECRET = frozenset({"ssh"})


def cluster_spec(path: Path) -> tuple[ClusterSpec, dict[str, Any]]:
    raw, secret = preset_config(path)
    spec, _ = load_spec(raw, path.name.removeprefix("Pulumi.").removesuffix(".yaml"), frozenset(secret))
    return spec, raw


def pool_spec(raw: dict[str, Any], settings: dict[str, Any]) -> Any:
    return load_pool_spec(raw, "pool-a", SECRET, lambda _: settings)


def problems(raw: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as err:
        pool_spec(raw, settings)
    return [f"{p.path}: {p.message}" for p in err.value.problems]


@pytest.mark.parametrize(
    "path", [p for p in sorted(STACKS.glob("Pulumi.*.yaml")) if "lab" not in p.name], ids=lambda p: p.name
)
def test_a_pool_is_specified_as_its_cluster_with_its_own_workers(path: Path) -> None:
    """Everything a worker is rendered from is the cluster's: the pool's nodes join exactly the
    cluster the cluster stack made."""
    spec, raw = cluster_spec(path)
    pool = {**POOL, "nodes": [{**m, "address": f"198.51.100.{i + 1}"} for i, m in enumerate(MEMBERS)]}
    got, members, _ = pool_spec(pool, cluster_settings(spec, raw))
    assert [n.name for n in members.members] == ["pool-1", "pool-2"]
    assert all(n.roles == {"worker"} for n in members.members)
    assert members.members[0].labels == {"tier": "batch"}
    assert replace(got, nodes=()) == replace(spec, nodes=())
    assert [node_settings(n) for n in got.nodes[2:]] == [node_settings(n) for n in spec.nodes]


def test_the_settings_leave_out_the_clusters_ssh_and_lab() -> None:
    spec, raw = cluster_spec(CLUSTER)
    settings = cluster_settings(spec, raw)
    assert "ssh" not in settings and "lab" not in settings
    assert settings["apiEndpoint"] == f"{spec.api_endpoint.host}:{spec.api_endpoint.port}"
    assert [n["name"] for n in settings["nodes"]] == [n.name for n in spec.nodes]


def test_a_pool_sets_only_its_own_keys_and_holds_workers_only() -> None:
    spec, raw = cluster_spec(CLUSTER)
    settings = cluster_settings(spec, raw)
    bad = {
        **POOL,
        "pool": {"cluster": CLUSTER_STACK, "size": 3},
        "kubeProxy": {"mode": "ipvs"},
        "nodes": [{**MEMBERS[0], "roles": ["worker", "control-plane"]}],
    }
    found = problems(bad, settings)
    assert any(p.startswith("kubeProxy: is a cluster-wide setting") for p in found), found
    assert any(p.startswith("pool.size: is not a known key") for p in found), found
    assert any(p.startswith("nodes[0].roles: is not [worker]") for p in found), found
    assert problems({"nodes": MEMBERS}, settings)[0].startswith("pool.cluster: is missing")
    assert "nodes: is empty" in problems({"pool": {"cluster": CLUSTER_STACK}}, settings)


def test_a_pool_node_may_not_clash_with_a_cluster_node() -> None:
    spec, raw = cluster_spec(CLUSTER)
    cluster_node = spec.nodes[0]
    clash = {**POOL, "nodes": [{**MEMBERS[0], "name": cluster_node.name}]}
    found = problems(clash, cluster_settings(spec, raw))
    # Named on the pool's side, by its index in the pool's own `nodes`.
    assert found == ["nodes[0].name: is used by more than one node"], found


def test_a_cluster_stack_without_a_pool_output_is_named() -> None:
    def missing(name: str) -> dict[str, Any]:
        raise LookupError(f"stack {name} has no `pool` output")

    with pytest.raises(SpecError) as err:
        load_pool_spec(POOL, "pool-a", SECRET, missing)
    assert [p.path for p in err.value.problems] == ["pool.cluster"]
    assert "has no `pool` output" in err.value.problems[0].message


def test_a_short_cluster_name_is_this_projects_stack() -> None:
    assert stack_reference("dev", "organization", "k8s-from-scratch") == "organization/k8s-from-scratch/dev"
    assert stack_reference("acme/other/prod", "organization", "k8s-from-scratch") == "acme/other/prod"


# --- the program, under the mocks ---


@pytest.fixture(scope="module")
def cluster_output() -> tuple[dict[str, Any], bool]:
    graph = run_preset(CLUSTER)
    out = graph.exports["pool"]
    return _sync_await(out.future()), bool(_sync_await(out.is_secret()))


@pytest.fixture(scope="module")
def pool_graph(cluster_output: tuple[dict[str, Any], bool]) -> tuple[Graph, list[str]]:
    asked: list[str] = []

    def read(name: str) -> dict[str, Any]:
        asked.append(name)
        return cluster_output[0]

    return run_program(POOL, "pool-a", set(SECRET), read_cluster=read), asked


def test_the_cluster_exports_what_its_pools_need_as_one_secret(
    cluster_output: tuple[dict[str, Any], bool],
) -> None:
    value, secret = cluster_output
    assert secret
    assert set(value) == {"settings", "caCert", "kubeProxyKubeconfig", "adminKubeconfig"}
    assert value["caCert"].startswith("-----BEGIN CERTIFICATE-----")
    assert "k8s-from-scratch:cluster-admins" not in value["adminKubeconfig"]  # a kubeconfig, not a cert
    assert "client-certificate-data" in value["adminKubeconfig"]


def test_a_pool_builds_its_workers_and_nothing_of_the_clusters(pool_graph: tuple[Graph, list[str]]) -> None:
    graph, asked = pool_graph
    assert asked == ["organization/k8s-from-scratch/ha-calico"]
    custom = [r for r in graph.registrations if r.custom]
    assert all(r.name.startswith("ha-calico-pool-") for r in custom), [r.name for r in custom]
    types = {r.type for r in graph.registrations}
    for cluster_only in ("Pki", "EtcdMember", "ControlPlane", "CsrApprover", "Bootstrap", "Cni", "Addons"):
        assert f"k8s-from-scratch:index:{cluster_only}" not in types
    for node in ("pool-1", "pool-2"):
        owned = {r.name.removeprefix("ha-calico-pool-") for r in custom if node in r.name}
        assert owned == {
            f"host-{node}-prepare",
            f"host-{node}-binaries",
            f"host-{node}-lib",
            f"{node}-runtime-service",
            f"{node}-node-kubelet",
            f"{node}-node-kube-proxy",
            f"bootstrap-{node}-token-issued",
            f"bootstrap-{node}-token-value",
            f"bootstrap-{node}-token",
            f"join-{node}-allow",
            f"join-{node}-joined",
            f"join-{node}-forget",
            f"{node}-drift-guard",
        }
    assert graph.exports["nodes"] == ["pool-1", "pool-2"]


def test_a_pool_node_joins_through_its_own_allow_list_and_leaves_through_the_api(
    pool_graph: tuple[Graph, list[str]],
) -> None:
    graph, _ = pool_graph
    kubelet = graph.named("ha-calico-pool-pool-1-node-kubelet")
    allow = graph.named("ha-calico-pool-join-pool-1-allow")
    token = graph.named("ha-calico-pool-bootstrap-pool-1-token")
    assert allow.urn in kubelet.dependencies and token.urn in kubelet.dependencies
    joined = graph.named("ha-calico-pool-join-pool-1-joined")
    assert kubelet.urn in joined.dependencies or any(
        graph.by_urn(u).name.endswith("pool-1-node-kube-proxy") for u in joined.dependencies
    )
    assert kl.CLIENT_CERT in joined.inputs["create"]
    forget = graph.named("ha-calico-pool-join-pool-1-forget")
    assert joined.urn in forget.dependencies
    assert "pool-1" in forget.inputs["delete"] and "stdin" in forget.secret_paths
    # The pool's objects go through its own provider, driven by the cluster's admin (secret).
    provider = graph.named("ha-calico-pool-k8s")
    assert allow.provider.startswith(provider.urn) and token.provider.startswith(provider.urn)
    assert "kubeconfig" in provider.secret_paths


# --- the join, run on the node ---


def test_the_join_script_passes_shellcheck(tmp_path: Path) -> None:
    spec, _ = cluster_spec(CLUSTER)
    result = shellcheck(tmp_path, {"until-joined": np.until_joined_script(spec.nodes[0])})
    assert result.returncode == 0, result.stdout


def _join(tmp_path: Path, client: bool, serving: bool) -> subprocess.CompletedProcess[str]:
    spec, _ = cluster_spec(CLUSTER)
    paths = {"CLIENT_CERT": tmp_path / "client.pem", "SERVING_CERT": tmp_path / "server.pem"}
    for path, there in zip(paths.values(), (client, serving), strict=True):
        if there:
            path.write_text("x")
    script = with_vars(
        np.until_joined_script(spec.nodes[0]), LIMIT="1", **{k: str(v) for k, v in paths.items()}
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "journalctl").write_text("#!/bin/sh\necho 'kubelet: fake journal line'\n")
    (bin_dir / "journalctl").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30)


def test_a_joined_node_passes_at_once(tmp_path: Path) -> None:
    result = _join(tmp_path, client=True, serving=True)
    assert result.returncode == 0, result.stderr
    assert "joined" in result.stdout


@pytest.mark.parametrize(
    ("client", "missing"), [(False, "client certificate"), (True, "serving certificate")]
)
def test_a_node_the_approver_never_approves_fails_naming_what_is_missing(
    tmp_path: Path, client: bool, missing: str
) -> None:
    result = _join(tmp_path, client=client, serving=False)
    assert result.returncode == 1
    assert missing in result.stderr and "csr-approver.timer" in result.stderr
    assert "fake journal line" in result.stderr


def test_numbers_read_from_a_stack_output_are_whole_again() -> None:
    """Stack outputs cross the engine as protobuf Structs: every number a double, which the
    spec's integer keys refuse (a lab cluster's kubeProxy.conntrackMaxPerCore: 0)."""
    spec, raw = cluster_spec(CLUSTER)
    settings = cluster_settings(spec, {**raw, "kubeProxy": {"conntrackMaxPerCore": 0}})
    as_read = whole_numbers_inverse(settings)
    assert "conntrackMaxPerCore': 0.0" in str(as_read)
    with pytest.raises(SpecError, match="expected a whole number"):
        pool_spec(POOL, as_read)
    got, _, _ = pool_spec(POOL, whole_numbers(as_read))
    assert got.kube_proxy.conntrack_max_per_core == 0
    assert json.dumps(whole_numbers(as_read)) == json.dumps(settings)
    assert whole_numbers({"a": [1.5, 2.0, True]}) == {"a": [1.5, 2, True]}


def whole_numbers_inverse(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: whole_numbers_inverse(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers_inverse(v) for v in value]
    return value
