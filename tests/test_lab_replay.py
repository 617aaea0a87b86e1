"""End to end on real lab hosts: the program's graph replayed (tests/harness/replay.py), then the
cluster checked as issue 7 asks: etcd healthy, /readyz ok, every node registered through TLS
bootstrapping, serving CSRs approved, anonymous 401, Secrets encrypted in etcd, audit entries;
a second run is harmless; destroy leaves the hosts without our units, files, users or binaries.

Needs root, the lab's tools (lab/install-deps.sh), the toolchain's binaries and the lab mirror
(`make lab-mirror`). Run with `make e2e` (pytest -m lab).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.graph_diff import owned_by
from components.drift_guard import drifts
from components.ssh import Target, run
from lab import mirror
from render import control_plane as cp
from render import etcd, kubelet
from spec import ClusterSpec, load_spec
from tests.harness import mocks
from tests.harness.program import REPO, Graph, preset_config, run_program
from tests.harness.replay import Changes, Replay, apply_changes, host_target, kubectl_path, seed_providers

pytestmark = pytest.mark.lab

STACKS = [REPO / "Pulumi.dev.yaml", REPO / "stacks" / "Pulumi.lab-ha.yaml"]
ETCD_PKI = "/etc/etcd/pki"


@dataclass
class Lab:
    spec: ClusterSpec
    graph: Graph
    replay: Replay
    kubeconfig: Path
    up_seconds: float
    registered_seconds: float  # from every lab host booted to the last node registered
    stack: str
    raw: dict[str, Any]
    secret: set[str]
    mirror: Path

    def evaluate(self, raw: dict[str, Any]) -> Graph:
        """The program again (as the next `pulumi up` would), with the lab's mirror."""
        return _with_mirror(self.mirror, lambda: run_program(raw, self.stack, self.secret))

    def kubectl(self, *args: str, stdin: str = "") -> str:
        proc = subprocess.run(
            [kubectl_path(), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            text=True,
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def ssh(self, node: str, command: str) -> str:
        result = run(host_target(self.graph, node), command)
        assert result.code == 0, f"{node}: {command}: {result.stderr}"
        return result.stdout

    def target(self, node: str) -> Target:
        return host_target(self.graph, node)


def _with_mirror(mirror: Path, evaluate: Callable[[], Graph]) -> Graph:
    previous = os.environ.get("K8SFS_LAB_MIRROR_DIR")
    os.environ["K8SFS_LAB_MIRROR_DIR"] = str(mirror)
    try:
        return evaluate()
    finally:
        if previous is None:
            del os.environ["K8SFS_LAB_MIRROR_DIR"]
        else:
            os.environ["K8SFS_LAB_MIRROR_DIR"] = previous


def _prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("systemd-nspawn", "debootstrap", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} missing: run lab/install-deps.sh"
    if not Path(kubectl_path()).is_file():
        return "no kubectl: run toolchain/build.sh kubernetes"
    return None


@pytest.fixture(scope="module", params=STACKS, ids=lambda p: p.name)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    reason = _prerequisites()
    if reason:
        pytest.skip(reason)
    path: Path = request.param
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    raw, secret = preset_config(path)
    spec, _ = load_spec(raw, stack, frozenset(secret))
    out = Path(os.environ.get("K8SFS_LAB_REAL_MIRROR", f"{spec.lab.work_dir}/mirror"))
    code = mirror.main(["build", "--stack-file", str(path), "--out", str(out)])
    assert code == 0, "the lab mirror could not be built: run toolchain/build.sh"
    subprocess.run([str(REPO / "lab" / "lab.sh"), "base"], check=True, timeout=1800)
    graph = _with_mirror(out, lambda: run_program(raw, stack, secret))
    replay = Replay(graph, kubectl_path(), log=lambda line: None)
    with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", delete=False) as handle:
        handle.write(replay.admin_kubeconfig())
    start = time.monotonic()
    try:
        replay.up()
        up_seconds = time.monotonic() - start
        booted = max(r.ended for n, r in replay.results.items() if n.startswith(f"{stack}-lab-host-"))
        joined = max(r.ended for n, r in replay.results.items() if n.endswith("-kubelet"))
        result = Lab(
            spec, graph, replay, Path(handle.name), up_seconds, joined - booted, stack, raw, set(secret), out
        )
        print(
            f"\n[{stack}] up {up_seconds:.1f}s; booted hosts -> all nodes registered {joined - booted:.1f}s"
        )
        yield result
    finally:
        replay.down()  # whatever a test left: hosts, mirror and bridge are gone afterwards
        os.unlink(handle.name)


def test_etcd_members_are_healthy(lab: Lab) -> None:
    members = [n.name for n in lab.spec.etcd_nodes]
    node = members[0]
    out = lab.ssh(
        node,
        f"etcdctl --endpoints https://127.0.0.1:{etcd.CLIENT_PORT} --cacert {ETCD_PKI}/ca.crt "
        f"--cert {ETCD_PKI}/healthcheck-client.crt --key {ETCD_PKI}/healthcheck-client.key "
        "member list -w json",
    )
    names = sorted(m["name"] for m in json.loads(out)["members"])
    assert names == sorted(members)
    for member in members:
        health = lab.ssh(
            member,
            f"etcdctl --endpoints https://127.0.0.1:{etcd.CLIENT_PORT} --cacert {ETCD_PKI}/ca.crt "
            f"--cert {ETCD_PKI}/healthcheck-client.crt --key {ETCD_PKI}/healthcheck-client.key "
            "endpoint health 2>&1",
        )
        assert "is healthy" in health


def test_every_api_server_is_ready(lab: Lab) -> None:
    assert lab.kubectl("get", "--raw", "/readyz") == "ok"
    for node in lab.spec.control_plane_nodes:
        out = lab.ssh(
            node.name,
            f"curl -sS --cacert {cp.CA_CRT} --cert {cp.KUBELET_CLIENT_CRT} --key {cp.KUBELET_CLIENT_KEY} "
            "https://127.0.0.1:6443/readyz",
        )
        assert out == "ok", node.name


def test_every_node_registered_through_tls_bootstrapping(lab: Lab) -> None:
    nodes = json.loads(lab.kubectl("get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(n.name for n in lab.spec.kubelet_nodes)
    csrs = json.loads(lab.kubectl("get", "csr", "-o", "json"))["items"]
    client = [c for c in csrs if c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"]
    assert len(client) == len(nodes)
    for csr in client:
        assert csr["spec"]["username"].startswith("system:bootstrap:")
        assert {c["type"] for c in csr["status"]["conditions"]} == {"Approved"}
        assert csr["status"].get("certificate")
    for node in nodes:  # NotReady only for lack of a CNI (no image can be pulled here)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True" or "cni" in ready["message"].lower() or "network" in ready["message"]


def test_serving_csrs_are_approved_for_their_own_nodes(lab: Lab) -> None:
    csrs = json.loads(lab.kubectl("get", "csr", "-o", "json"))["items"]
    serving = [c for c in csrs if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"]
    requesters = sorted(c["spec"]["username"] for c in serving if c["status"].get("certificate"))
    assert requesters == sorted(f"system:node:{n.name}" for n in lab.spec.kubelet_nodes)
    # The kubelet now serves a certificate of the cluster CA: verify it like kube-apiserver does.
    first_cp = lab.spec.control_plane_nodes[0]
    for node in lab.spec.kubelet_nodes:
        out = lab.ssh(
            first_cp.name,
            f"openssl s_client -connect {node.internal_address}:10250 -CAfile {cp.CA_CRT} "
            f"-verify_ip {node.internal_address} -verify_return_error </dev/null 2>&1 "
            "| grep -E 'Verify return code'",
        )
        assert "Verify return code: 0 (ok)" in out, (node.name, out)


def test_anonymous_requests_are_refused(lab: Lab) -> None:
    proc = subprocess.run(
        ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", f"{lab.spec.api_endpoint.url}/api"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.stdout == "401"


def test_secrets_are_encrypted_in_etcd(lab: Lab) -> None:
    lab.kubectl("create", "secret", "generic", "e2e-probe", "--from-literal=k=plaintext-marker-e2e")
    member = lab.spec.etcd_nodes[0].name
    raw = lab.ssh(
        member,
        f"etcdctl --endpoints https://127.0.0.1:{etcd.CLIENT_PORT} --cacert {ETCD_PKI}/ca.crt "
        f"--cert {ETCD_PKI}/healthcheck-client.crt --key {ETCD_PKI}/healthcheck-client.key "
        "get /registry/secrets/default/e2e-probe --print-value-only | head -c 64 | tr -c '[:print:]' '.'",
    )
    assert raw.startswith(f"k8s:enc:{lab.spec.security.encryption_at_rest}:v1:")
    assert "plaintext-marker-e2e" not in raw


def test_the_audit_log_has_entries(lab: Lab) -> None:
    node = lab.spec.control_plane_nodes[0].name
    last = lab.ssh(node, f"tail -n 1 {cp.AUDIT_LOG}")
    event = json.loads(last)
    assert event["apiVersion"] == "audit.k8s.io/v1" and event["kind"] == "Event"
    assert int(lab.ssh(node, f"wc -l < {cp.AUDIT_LOG}")) > 10


def test_running_every_step_again_changes_no_file(lab: Lab) -> None:
    """A failed or interrupted `up` is fixed by running it again: every create is re-runnable,
    and re-running it rewrites no managed file."""
    lab.replay.results.clear()
    lab.replay.up()
    files = {n: r.stdout for n, r in lab.replay.results.items() if n.endswith("-files")}
    assert files and all("updated" not in out for out in files.values()), files
    assert lab.kubectl("get", "--raw", "/readyz") == "ok"


def test_our_typed_objects_are_accepted_by_the_api_server_for_every_preset(lab: Lab) -> None:
    """Issue 6: CoreDNS, RuntimeClass, smoke-test, bootstrap and RBAC objects, as every preset
    (and a Kata one) renders them, pass the real kube-apiserver's server-side dry run."""
    from render import addons, bootstrap
    from tests.harness.program import presets

    specs = []
    for path in presets():
        raw, secret = preset_config(path)
        specs.append(load_spec(raw, "x", frozenset(secret))[0])
    raw, secret = preset_config(REPO / "stacks" / "Pulumi.s2-ubuntu-crio-kata-weave.yaml")
    raw["addons"] = {"smokeTest": True}
    specs.append(load_spec(raw, "x", frozenset(secret))[0])
    # The lab's API server has its own service range: kube-dns's clusterIP must come from it.
    specs = [dataclasses.replace(spec, network=lab.spec.network) for spec in specs]
    objects: list[dict[str, Any]] = []
    for spec in specs:
        objects += addons.all_objects(spec)
        objects.append(bootstrap.cluster_info_configmap(spec, "-----BEGIN CERTIFICATE-----\nMIIB\n"))
    objects += bootstrap.rbac_objects()
    objects.append(bootstrap.bootstrap_token_secret("abcdef", "0123456789abcdef"))
    kinds = set()
    # A dry run creates nothing, so the namespaces the other objects live in are created first.
    namespaces = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
    for ns in namespaces.values():
        lab.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(ns))
    try:
        for obj in objects:
            lab.kubectl(
                "apply",
                "--server-side",
                "--dry-run=server",
                "--force-conflicts",
                "-f",
                "-",
                stdin=json.dumps(obj),
            )
            kinds.add(obj["kind"])
    finally:
        for name in namespaces:
            lab.kubectl("delete", "namespace", name, "--wait=false")
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "ClusterRole",
        "ClusterRoleBinding",
        "RuntimeClass",
        "Secret",
        "Job",
    } <= kinds


# --- drift (issue 8): what `pulumi refresh` then `pulumi up` do with each host's DriftGuard -----


def _guard(lab: Lab, node: str) -> tuple[Any, str, dict[str, Any], dict[str, Any]]:
    reg = lab.graph.named(f"{lab.spec.cluster_name}-{node}-drift-guard")
    provider, expected = lab.replay.dynamic(reg)
    return provider, lab.replay.ids[reg.name], expected, lab.replay.outputs[reg.name]


def refresh(lab: Lab, node: str) -> list[Any]:
    """`pulumi refresh` of one guard: the drifts it records (and the diff the next up sees)."""
    provider, id_, expected, state = _guard(lab, node)
    observed = provider.read(id_, state).outs
    found = drifts(expected, observed)
    assert bool(found) == provider.diff(id_, observed, expected).changes
    return found


def repair(lab: Lab, node: str) -> None:
    """`pulumi up` after that refresh: the guard's update puts the host back."""
    provider, id_, expected, state = _guard(lab, node)
    provider.update(id_, provider.read(id_, state).outs, expected)


def started_at(lab: Lab, node: str, unit: str) -> str:
    return lab.ssh(node, f"systemctl show -p ActiveEnterTimestampMonotonic --value {unit}").strip()


def test_an_untouched_cluster_reports_no_drift(lab: Lab) -> None:
    for node in lab.spec.nodes:
        assert refresh(lab, node.name) == [], node.name


def test_an_edited_apiserver_flag_is_found_and_repaired(lab: Lab) -> None:
    cp_node = lab.spec.control_plane_nodes[0].name
    unit = f"/etc/systemd/system/{cp.APISERVER}.service"
    etcd_node = lab.spec.etcd_nodes[0].name
    etcd_before = started_at(lab, etcd_node, etcd.UNIT)
    # (the controller-manager and scheduler may restart themselves when their leader lease lapses
    # while the API server restarts; the runtime and etcd have no reason to)
    runtime_before = started_at(lab, cp_node, "containerd.service")
    lab.ssh(
        cp_node, f"sed -i 's/--anonymous-auth=false/--anonymous-auth=true/' {unit} && systemctl daemon-reload"
    )
    found = refresh(lab, cp_node)
    assert [(d.kind, d.name) for d in found] == [("file", unit)]
    repair(lab, cp_node)
    assert "--anonymous-auth=false" in lab.ssh(cp_node, f"cat {unit}")
    assert refresh(lab, cp_node) == []
    _wait_ready(lab)
    assert started_at(lab, etcd_node, etcd.UNIT) == etcd_before, "etcd was restarted"
    assert started_at(lab, cp_node, "containerd.service") == runtime_before, "containerd was restarted"


def test_a_changed_kubelet_config_is_found_and_repaired(lab: Lab) -> None:
    node = lab.spec.worker_nodes[0].name
    proxy_before = started_at(lab, node, "kube-proxy.service")
    kubelet_before = started_at(lab, node, "kubelet.service")
    lab.ssh(node, f"sed -i 's/^maxPods: .*/maxPods: 7/; $ a\\eventRecordQPS: 1' {kubelet.CONFIG}")
    found = refresh(lab, node)
    assert [(d.kind, d.name) for d in found] == [("file", kubelet.CONFIG)]
    repair(lab, node)
    assert refresh(lab, node) == []
    assert started_at(lab, node, "kubelet.service") != kubelet_before, "kubelet must restart with its config"
    assert started_at(lab, node, "kube-proxy.service") == proxy_before, "kube-proxy was restarted"


def test_a_stopped_etcd_member_is_found_and_started(lab: Lab) -> None:
    node = lab.spec.etcd_nodes[-1].name
    lab.ssh(node, f"systemctl stop {etcd.UNIT}")
    found = refresh(lab, node)
    assert [(d.kind, d.name, d.observed) for d in found] == [("unit", etcd.UNIT, "inactive")]
    repair(lab, node)
    assert lab.ssh(node, f"systemctl is-active {etcd.UNIT}").strip() == "active"
    assert refresh(lab, node) == []


def test_a_deleted_cni_plugin_binary_is_found_and_reinstalled(lab: Lab) -> None:
    node = lab.spec.worker_nodes[-1].name
    lab.ssh(node, "rm /opt/cni/bin/bridge")
    found = refresh(lab, node)
    assert [(d.kind, d.name) for d in found] == [("binary", "cni-plugins")]
    assert "/opt/cni/bin/bridge" in found[0].observed
    repair(lab, node)
    assert lab.ssh(node, "test -x /opt/cni/bin/bridge && echo present").strip() == "present"
    assert refresh(lab, node) == []


def _wait_ready(lab: Lab) -> None:
    for _ in range(60):
        proc = subprocess.run(
            [kubectl_path(), "--kubeconfig", str(lab.kubeconfig), "get", "--raw", "/readyz"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.stdout == "ok":
            return
        time.sleep(2)
    raise AssertionError("the API server did not come back")


# --- the next `pulumi up`s: nothing changed, then one more worker ------------------------------


def test_up_again_changes_nothing_and_a_new_worker_touches_only_itself(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    if lab.stack != "dev":
        pytest.skip("one stack shows it: a third worker host on the HA shape adds minutes, not coverage")
    monkeypatch.setattr(mocks, "MEMO_ENABLED", False)  # seeded below, for this test only
    monkeypatch.setattr(mocks, "_memo", {})
    seed_providers(lab.graph)  # the providers' state: keys and certificates stay what they are
    again = lab.evaluate(lab.raw)
    assert Changes.between(lab.graph, again).names(lab.graph, again) == {
        "create": [],
        "update": [],
        "delete": [],
    }

    raw = copy.deepcopy(lab.raw)
    raw["lab"]["workers"] += 1
    new = f"lab-worker-{raw['lab']['workers']}"
    bigger = lab.evaluate(raw)
    changes = Changes.between(lab.graph, bigger)
    names = changes.names(lab.graph, bigger)
    assert names["update"] == [] and names["delete"] == [], names
    assert names["create"] and all(owned_by(n, new) for n in names["create"]), names["create"]
    start = time.monotonic()
    _, ahead = apply_changes(
        lab.graph, bigger, changes, created=set(lab.replay.created), log=lambda line: None
    )
    added_seconds = time.monotonic() - start
    try:
        ran = set(ahead.results)
        assert ran <= set(names["create"]), ran - set(names["create"])  # no other host was touched
        nodes = lab.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").split()
        assert new in nodes
        # Its serving certificate was approved from its own allow list, through the API.
        allow = lab.kubectl("get", "configmap", "-n", "k8s-from-scratch", f"csr-allow-{new}", "-o", "name")
        assert allow.strip() == f"configmap/csr-allow-{new}"
        print(f"\n[{lab.stack}] adding {new}: {len(names['create'])} resources, {added_seconds:.1f}s")
    finally:
        # And taking it away again deletes only what it added.
        back = Changes.between(bigger, lab.graph)
        assert back.delete == changes.create and not back.create and not back.update
        apply_changes(bigger, lab.graph, back, created=ahead.created, log=lambda line: None)
    assert not set(names["create"]) & ahead.created


LEFTOVERS = (
    "ls /etc/systemd/system/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,"
    "kube-proxy,containerd,k8sfs-csr-approver}.service 2>/dev/null; "
    "ls -d /etc/kubernetes /etc/etcd /var/lib/etcd /var/lib/kubelet /etc/containerd /opt/cni/bin/bridge "
    "/usr/local/bin/kube-apiserver /usr/local/bin/kubelet /usr/local/bin/etcd /usr/local/bin/containerd "
    "/etc/sysctl.d/90-k8s-from-scratch.conf /etc/modules-load.d/k8s-from-scratch.conf 2>/dev/null; "
    "getent passwd etcd kube; true"
)


def test_destroy_leaves_hosts_clean(lab: Lab) -> None:
    lab.replay.down(lambda r: r.type != "command:local:Command")  # everything but the lab itself
    for node in lab.spec.nodes:
        leftovers = run(lab.target(node.name), LEFTOVERS).stdout.split()
        assert leftovers == [], f"{node.name} keeps {leftovers}"
    lab.replay.down()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "k8sfs-lab" not in netns
