"""Under mocks, for every preset: each node gets exactly the runtime, kubelet and kube-proxy settings
its spec asks for, kubelet never starts before its runtime and the bootstrap objects, secrets
travel only on stdin, and control planes are labelled through the API after they joined.

Host and Pki are small stand-ins with the attributes the real components expose, so these tests
do not depend on how those components build them.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pulumi_kubernetes as k8s
import pytest
import yaml

from components.api_objects import ClusterSite
from components.bootstrap import Bootstrap
from components.csr_approver import CsrApprover, NodeJoin
from components.host import NodeSite
from components.runtime import Runtime
from components.worker_node import NodeCredentials, WorkerNode
from mockrun.program import Graph, run_function
from mockrun.recorder import Registration
from render import csr_policy as cp
from render import kube_proxy as kp
from render import kubelet as kl
from render import runtime as rt
from spec.model import ClusterSpec
from tests.support.fakes import (
    APPROVER_KUBECONFIG,
    CA_PEM,
    PROXY_KUBECONFIG,
    SECRETS,
    FakeHost,
    fake_pki,
)
from tests.support.specs import PRESETS, preset_spec


def build(spec: ClusterSpec) -> Graph:
    def program() -> None:
        pki = fake_pki()
        provider = k8s.Provider("k8s", kubeconfig=pki.admin_kubeconfig)
        boot = Bootstrap("bootstrap", ClusterSite(spec, provider), pki, spec.kubelet_nodes)
        approvers, workers = [], []
        for node in spec.nodes:
            site = NodeSite(spec, node, FakeHost(f"{node.name}-host", node.address))
            if node.is_control_plane:
                approvers.append(CsrApprover(f"{node.name}-csr-approver", site, pki, boot.ready))
            if node.runs_kubelet:
                runtime = Runtime(f"{node.name}-runtime", site)
                token = boot.tokens[node.name]
                credentials = NodeCredentials(pki.ca.cert_pem, pki.kube_proxy_kubeconfig)
                workers.append(WorkerNode(f"{node.name}-node", site, credentials, runtime, boot.ready, token))
        NodeJoin("join", ClusterSite(spec, provider), approvers[0], workers, boot)

    return run_function(program)


def bundle(reg: Registration) -> dict[str, tuple[str, str]]:
    """path -> (mode, content) of a files step's stdin."""
    out = {}
    for line in reg.inputs["stdin"].splitlines():
        path, mode, _owner, _group, data = line.split(" ")
        out[path] = (mode, base64.b64decode(data).decode())
    return out


def deps(graph: Graph, reg: Registration) -> set[str]:
    return {graph.by_urn(u).name for u in reg.dependencies}


def token_of(graph: Graph, node: str) -> dict[str, str]:
    """The stringData of node's bootstrap-token Secret."""
    data: dict[str, str] = graph.named(f"bootstrap-{node}-token").inputs["stringData"]
    return data


def bootstrap_shared(graph: Graph) -> set[str]:
    """Bootstrap's children that are not one node's token (its RBAC, cluster-info, namespace)."""
    children = {r.name for r in graph.children(graph.named("bootstrap"))}
    return {c for c in children if "-token" not in c}


def named_if(graph: Graph, name: str, present: bool) -> Registration | None:
    """The one resource `name` where `present`; elsewhere there is none."""
    found = [r for r in graph.registrations if r.name == name]
    if not present:
        assert found == []
        return None
    (reg,) = found
    return reg


GRAPHS: dict[str, tuple[ClusterSpec, Graph]] = {}


@pytest.fixture(params=PRESETS, ids=lambda p: p.name)
def preset(request: pytest.FixtureRequest) -> tuple[ClusterSpec, Graph]:
    path: Path = request.param
    if path.name not in GRAPHS:
        spec = preset_spec(path)
        GRAPHS[path.name] = (spec, build(spec))
    return GRAPHS[path.name]


def _parts(text: str) -> list[str]:
    """The part names of a combined step, in order (render.script_parts.run_parts)."""
    return [
        line.removeprefix("# --- part: ") for line in text.splitlines() if line.startswith("# --- part: ")
    ]


def test_each_node_gets_exactly_its_runtime(preset: tuple[ClusterSpec, Graph]) -> None:
    spec, graph = preset
    runtimes = graph.of_type("k8s-from-scratch:index:Runtime")
    assert sorted(r.name for r in runtimes) == sorted(f"{n.name}-runtime" for n in spec.kubelet_nodes)
    want = {f.meta.path: f.content for f in rt.runtime_files(spec)}
    for node in spec.kubelet_nodes:
        component = graph.named(f"{node.name}-runtime")
        children = {r.name: r for r in graph.children(component)}
        assert set(children) == {f"{node.name}-runtime-service"}
        service = children[f"{node.name}-runtime-service"]
        files = bundle(service)
        assert {p: c for p, (_, c) in files.items()} == want
        assert service.inputs["connection"]["host"] == node.address
        create = service.inputs["create"]
        # The preflight refuses before a file is written; then the files; then the service.
        assert _parts(create) == ["preflight", "files", "service"]
        preflight = rt.preflight_script(spec, node.name).removeprefix("#!/bin/sh\n").rstrip("\n")
        assert preflight in create
        for path in want:
            assert f"# {path} " in create  # the listing names every file with its hash
        assert rt.runtime_info(spec).unit in create
        assert _parts(service.inputs["delete"]) == ["service", "files"]
        assert rt.stop_script(spec).removeprefix("#!/bin/sh\n").rstrip("\n") in service.inputs["delete"]
        assert f"{node.name}-host-ready" in deps(graph, service)


def test_each_node_gets_its_kubelet_and_proxy_settings(preset: tuple[ClusterSpec, Graph]) -> None:
    spec, graph = preset
    for node in spec.kubelet_nodes:
        kubelet = graph.named(f"{node.name}-node-kubelet")
        assert _parts(kubelet.inputs["create"]) == ["files", "service"]
        files = bundle(kubelet)
        assert yaml.safe_load(files[kl.CONFIG][1]) == kl.kubelet_config(spec, node)
        assert files[kl.UNIT_FILE][1] == kl.kubelet_unit(spec, node)
        assert files[kl.CLIENT_CA] == ("0644", CA_PEM)
        # Its own token, and no other node's.
        mode, text = files[kl.BOOTSTRAP_KUBECONFIG]
        token = token_of(graph, node.name)
        assert mode == "0600"
        assert (
            yaml.safe_load(text)["users"][0]["user"]["token"]
            == f"{token['token-id']}.{token['token-secret']}"
        )
        proxy = named_if(graph, f"{node.name}-node-kube-proxy", spec.kube_proxy.enabled)
        if proxy is not None:
            files = bundle(proxy)
            assert yaml.safe_load(files[kp.CONFIG][1]) == kp.kube_proxy_config(spec, node)
            assert files[kp.KUBECONFIG] == ("0600", PROXY_KUBECONFIG)
            assert f"{node.name}-node-kubelet" in deps(graph, proxy)


def test_kubelet_never_starts_before_its_runtime_and_the_bootstrap_objects(
    preset: tuple[ClusterSpec, Graph],
) -> None:
    spec, graph = preset
    boot_objects = bootstrap_shared(graph)
    assert len(boot_objects) >= 8
    for node in spec.kubelet_nodes:
        kubelet = graph.named(f"{node.name}-node-kubelet")
        need = {f"{node.name}-runtime-service", f"{node.name}-host-ready", *boot_objects}
        need.add(f"bootstrap-{node.name}-token")
        assert need <= deps(graph, kubelet), need - deps(graph, kubelet)
        others = {f"bootstrap-{n.name}-token" for n in spec.kubelet_nodes if n.name != node.name}
        assert not others & deps(graph, kubelet), "a node waits for its own token only"
        assert kl.stop_script().removeprefix("#!/bin/sh\n").rstrip("\n") in kubelet.inputs["delete"]
        assert f"--node-ip={node.internal_address}" in bundle(kubelet)[kl.UNIT_FILE][1]


def test_secrets_travel_only_on_stdin(preset: tuple[ClusterSpec, Graph]) -> None:
    spec, graph = preset
    tokens = [token_of(graph, n.name)["token-secret"] for n in spec.kubelet_nodes]
    secrets = (*SECRETS, *tokens)
    for reg in graph.of_type("command:remote:Command"):
        for key in ("create", "update", "delete"):
            text = str(reg.inputs.get(key) or "")
            assert not any(s in text for s in secrets), f"{reg.name}.{key} carries a secret"
        stdin = str(reg.inputs.get("stdin") or "")
        encoded = [base64.b64encode(f".{s}".encode()).decode()[4:12] for s in tokens]
        if any(s in stdin for s in secrets) or any(e in stdin for e in encoded):
            assert "stdin" in reg.secret_paths, f"{reg.name} sends a secret on stdin unmarked"
            assert "stdin" in reg.additional_secret_outputs
    for node in spec.kubelet_nodes:
        token = graph.named(f"bootstrap-{node.name}-token")
        assert any(p.startswith("stringData") for p in token.secret_paths)


def test_nodes_join_through_our_approver_and_control_planes_get_their_role(
    preset: tuple[ClusterSpec, Graph],
) -> None:
    spec, graph = preset
    approver_node = spec.control_plane_nodes[0]
    for node in spec.kubelet_nodes:
        serving = graph.named(f"join-{node.name}-serving")
        assert serving.inputs["connection"]["host"] == approver_node.address
        assert serving.inputs["create"] == cp.until_serving_command(node)
        # A node leaving the stack takes its Node object (and its pods) with it.
        assert serving.inputs["delete"] == cp.forget_node_command(node)
        assert {
            f"{node.name}-node-kube-proxy" if spec.kube_proxy.enabled else f"{node.name}-node-kubelet",
            f"{approver_node.name}-csr-approver-timer",
            f"join-{node.name}-allow",
        } <= deps(graph, serving)
        # Its allow list, an object of its own named after it: adding a node adds one and changes
        # none, however many control planes approve.
        allow = graph.named(f"join-{node.name}-allow")
        assert allow.type == "kubernetes:core/v1:ConfigMap"
        want = cp.allow_configmap(node, token_of(graph, node.name)["token-id"])
        assert allow.inputs["metadata"] == want["metadata"] and allow.inputs["data"] == want["data"]
        assert f"{node.name} TOKEN {token_of(graph, node.name)['token-id']}\n" in want["data"][cp.ALLOW_KEY]
        assert f"{node.name} DNS {node.name}\n" in allow.inputs["data"][cp.ALLOW_KEY]
        assert "bootstrap-namespace" in deps(graph, allow)
        assert allow.provider.startswith(graph.named("k8s").urn)
        patch = named_if(graph, f"join-{node.name}-role", node.is_control_plane)
        if patch is not None:
            assert patch.type == "kubernetes:core/v1:NodePatch"
            assert patch.inputs["metadata"] == {"name": node.name, "labels": {kl.CONTROL_PLANE_ROLE: ""}}
            assert deps(graph, patch) == {f"join-{node.name}-serving"}
            assert patch.provider.startswith(graph.named("k8s").urn)


def test_an_approver_runs_on_every_control_plane_with_its_own_identity(
    preset: tuple[ClusterSpec, Graph],
) -> None:
    spec, graph = preset
    for node in spec.control_plane_nodes:
        files = bundle(graph.named(f"{node.name}-csr-approver-files"))
        assert files[cp.APPROVER_KUBECONFIG] == ("0600", APPROVER_KUBECONFIG)
        assert files[cp.APPROVER_SCRIPT] == ("0755", cp.approver_script())
        # Nothing per kubelet node on a control plane: the allow lists are in the API.
        approver = graph.named(f"{node.name}-csr-approver")
        assert {r.name for r in graph.children(approver)} == {
            f"{node.name}-csr-approver-files",
            f"{node.name}-csr-approver-timer",
        }
        timer = graph.named(f"{node.name}-csr-approver-timer")
        assert bootstrap_shared(graph) <= deps(graph, timer)
    workers_only = [n for n in spec.nodes if not n.is_control_plane]
    for node in workers_only:
        assert not [r for r in graph.registrations if r.name.startswith(f"{node.name}-csr-approver")]


def test_every_child_is_parented_and_prefixed(preset: tuple[ClusterSpec, Graph]) -> None:
    _, graph = preset
    for comp in graph.registrations:
        if comp.type.startswith("k8s-from-scratch:index:"):
            for child in graph.children(comp):
                assert child.name.startswith(f"{comp.name}-"), (comp.name, child.name)


def _watched(create: str) -> list[str]:
    """The WATCHED paths of a service part (render/templates/lib/start-or-restart.sh)."""
    (line,) = [line for line in create.splitlines() if line.startswith("WATCHED=")]
    return line.removeprefix("WATCHED=").strip("'").split()


def test_services_restarted_on_a_recorded_hash_watch_exactly_their_own_files(
    preset: tuple[ClusterSpec, Graph],
) -> None:
    """Without a recorded hash (an upgrade), a running unit is kept when it started after every
    watched file was written: the files its step installs (whose hash it follows), no fewer; not
    kubelet's bootstrap token, which is gone once the node has joined."""
    spec, graph = preset
    for node in spec.kubelet_nodes:
        steps = [(f"{node.name}-runtime-service", []), (f"{node.name}-node-kubelet", [kl.HOST_FACTS])]
        if spec.kube_proxy.enabled:
            steps.append((f"{node.name}-node-kube-proxy", []))
        for name, extra in steps:
            step = graph.named(name)
            installed = [f for f in bundle(step) if f != kl.BOOTSTRAP_KUBECONFIG]
            assert _watched(step.inputs["create"]) == [*installed, *extra], name
    for node in spec.control_plane_nodes:
        files = bundle(graph.named(f"{node.name}-csr-approver-files"))
        assert _watched(graph.named(f"{node.name}-csr-approver-timer").inputs["create"]) == list(files)
