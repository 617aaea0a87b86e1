"""kubelet rendering: every preset's nodes get the settings their spec asks for; scripts run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import kubelet as kl
from render import runtime as rt
from render.common import MANAGED_MARKER
from spec.model import ClusterSpec, NodeSpec
from tests.support.kubelet import run_service
from tests.support.specs import ONE_NODE, PRESETS, TWO_NODES, config_spec, preset_spec
from tests.support.tools import assert_units_verify, shellcheck


def config(spec: ClusterSpec, node: NodeSpec) -> dict:
    text = kl.render_kubelet_config(spec, node)
    assert text.startswith(MANAGED_MARKER)
    return yaml.safe_load(text)


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_kubelet_node_of_every_preset_gets_its_spec(path: Path) -> None:
    spec = preset_spec(path)
    info = rt.runtime_info(spec)
    assert spec.kubelet_nodes, "control planes run kubelet too"
    for node in spec.kubelet_nodes:
        c = config(spec, node)
        assert c["kind"] == "KubeletConfiguration"
        assert c["containerRuntimeEndpoint"] == info.endpoint
        assert c["cgroupDriver"] == spec.runtime.cgroup_driver
        assert c["clusterDNS"] == [spec.network.dns_service_ip]
        assert c["clusterDomain"] == spec.network.cluster_domain
        assert c["authentication"]["anonymous"]["enabled"] is False
        assert c["authentication"]["webhook"]["enabled"] is True
        assert c["authentication"]["x509"]["clientCAFile"] == kl.CLIENT_CA
        assert c["authorization"]["mode"] == "Webhook"
        assert c["rotateCertificates"] is True and c["serverTLSBootstrap"] is True
        assert c["tlsMinVersion"] == spec.security.tls_min_version
        assert c["failSwapOn"] is True and c["memorySwap"] == {"swapBehavior": "NoSwap"}
        assert c["readOnlyPort"] == 0
        assert "failCgroupV1" not in c, "host detection writes it to a drop-in only where needed"
        assert ("runtimeRequestTimeout" in c) is spec.runtime.kata
        taints = c.get("registerWithTaints", [])
        cp_taint = {"key": kl.CONTROL_PLANE_ROLE, "effect": "NoSchedule"}
        assert (cp_taint in taints) is (node.is_control_plane and not node.is_worker)
        for t in node.taints:
            assert any(x["key"] == t.key and x["effect"] == t.effect for x in taints)
        unit = kl.kubelet_unit(spec, node)
        assert f"--hostname-override={node.name}" in unit
        assert f"--node-ip={node.internal_address}" in unit
        assert f"--bootstrap-kubeconfig={kl.BOOTSTRAP_KUBECONFIG}" in unit
        assert f"--config-dir={kl.DROP_IN_DIR}" in unit
        assert "pod-infra-container-image" not in unit, "removed in 1.35: the runtime pins pause"
        assert f"After=network-online.target {info.unit}" in unit
        for key, value in node.labels.items():
            assert f"{key}={value}" in unit
        assert (kl.EXCLUDE_FROM_LB in unit) is node.is_control_plane


def test_control_plane_labels_split_between_kubelet_and_api() -> None:
    spec = config_spec(TWO_NODES)
    cp, worker = spec.node("cp1"), spec.node("w1")
    assert kl.api_labels(cp) == {kl.CONTROL_PLANE_ROLE: ""}
    assert kl.api_labels(worker) == {}
    assert kl.CONTROL_PLANE_ROLE not in kl.kubelet_labels(cp), "NodeRestriction forbids it"
    assert kl.kubelet_labels(cp) == {kl.EXCLUDE_FROM_LB: ""}


def test_a_control_plane_that_is_a_worker_is_not_tainted() -> None:
    spec = config_spec(ONE_NODE)
    assert kl.registration_taints(spec.node("solo")) == []


def test_user_taint_of_the_control_plane_key_is_not_doubled() -> None:
    spec = config_spec(
        [
            {
                "name": "cp1",
                "address": "192.168.10.11",
                "roles": ["etcd", "control-plane"],
                "taints": ["node-role.kubernetes.io/control-plane:NoSchedule", "a.example/x=y:NoExecute"],
            },
            {"name": "w1", "address": "192.168.10.21", "roles": ["worker"]},
        ],
    )
    taints = config(spec, spec.node("cp1"))["registerWithTaints"]
    assert taints == [
        {"key": kl.CONTROL_PLANE_ROLE, "effect": "NoSchedule"},
        {"key": "a.example/x", "value": "y", "effect": "NoExecute"},
    ]


def test_tls13_drops_the_cipher_list_and_cgroupfs_follows_the_spec() -> None:
    spec = config_spec(
        TWO_NODES, security={"tlsMinVersion": "VersionTLS13"}, runtime={"cgroupDriver": "cgroupfs"}
    )
    c = config(spec, spec.node("w1"))
    assert c["tlsMinVersion"] == "VersionTLS13" and "tlsCipherSuites" not in c
    assert c["cgroupDriver"] == "cgroupfs"


def test_crio_kubelet_points_at_the_crio_socket() -> None:
    spec = config_spec(TWO_NODES, runtime={"name": "crio"})
    c = config(spec, spec.node("w1"))
    assert c["containerRuntimeEndpoint"] == "unix:///var/run/crio/crio.sock"
    assert "After=network-online.target crio.service" in kl.kubelet_unit(spec, spec.node("w1"))


# --- the service script against a fake host ------------------------------------------------------


def test_host_facts_on_a_small_cgroup_v1_host_with_systemd_resolved(tmp_path: Path) -> None:
    result = run_service(tmp_path, 926 * 1024, "tmpfs", resolved=True, bootstrapped=True)
    assert result.returncode == 0, result.stderr
    facts = yaml.safe_load((tmp_path / "config.d/50-host-facts.conf").read_text())
    assert facts == {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "resolvConf": str(tmp_path / "resolv.conf"),
        "systemReserved": {"memory": kl.SMALL_NODE_SYSTEM_RESERVED},
        "kubeReserved": {"memory": kl.SMALL_NODE_KUBE_RESERVED},
    }
    assert "cgroup v1 host" in result.stderr and "926 MiB of RAM" in result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "systemctl enable kubelet.service" in calls and "systemctl restart kubelet.service" in calls


def test_host_facts_on_a_roomy_cgroup_v2_host_add_nothing(tmp_path: Path) -> None:
    result = run_service(tmp_path, 8 * 1024 * 1024, "cgroup2fs", resolved=False, bootstrapped=True)
    assert result.returncode == 0, result.stderr
    facts = yaml.safe_load((tmp_path / "config.d/50-host-facts.conf").read_text())
    assert facts == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}
    assert "warning" not in result.stderr


ROOMY = 8 * 1024 * 1024


def test_a_joined_node_keeps_no_token_and_an_unchanged_kubelet_is_not_restarted(tmp_path: Path) -> None:
    run_service(tmp_path, ROOMY, "cgroup2fs", resolved=False, bootstrapped=True)  # its host facts
    (tmp_path / "calls").unlink()
    result = run_service(
        tmp_path, ROOMY, "cgroup2fs", resolved=False, bootstrapped=True, recorded_hash="ab" * 32
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "bootstrap-kubeconfig").exists()
    calls = (tmp_path / "calls").read_text()
    assert "systemctl restart kubelet.service" not in calls
    assert f"systemctl start {kl.CLEANUP_PATH}" in calls
    assert "running with its current files" in result.stdout


def test_a_joined_node_with_changed_files_restarts_kubelet(tmp_path: Path) -> None:
    result = run_service(
        tmp_path, ROOMY, "cgroup2fs", resolved=False, bootstrapped=True, recorded_hash="cd" * 32
    )
    assert result.returncode == 0, result.stderr
    assert "systemctl restart kubelet.service" in (tmp_path / "calls").read_text()
    assert (tmp_path / "hashes/kubelet.service.hash").read_text().strip() == "ab" * 32
    assert not (tmp_path / "bootstrap-kubeconfig").exists()


def test_a_node_that_has_not_joined_keeps_its_token_and_arms_the_cleanup(tmp_path: Path) -> None:
    result = run_service(
        tmp_path, ROOMY, "cgroup2fs", resolved=False, bootstrapped=False, recorded_hash="ab" * 32
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "bootstrap-kubeconfig").exists(), "kubelet still needs it"
    calls = (tmp_path / "calls").read_text().splitlines()
    # The cleanup's oneshot is reset so the path fires again, and kubelet restarts with the token.
    stop, arm = f"systemctl stop {kl.CLEANUP_SERVICE}", f"systemctl restart {kl.CLEANUP_PATH}"
    assert calls.index(stop) < calls.index(arm) < calls.index("systemctl restart kubelet.service")
    assert "asks to join" in result.stdout


def _restarted(tmp_path: Path, mem_kb: int = 8 * 1024 * 1024, **kwargs: Any) -> bool:
    """Runs the service script again in tmp_path; whether it restarted kubelet (and waited the
    10 s that prove a restarted kubelet stays up)."""
    (tmp_path / "calls").unlink(missing_ok=True)
    result = run_service(tmp_path, mem_kb, "cgroup2fs", resolved=False, bootstrapped=True, **kwargs)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert ("sleep 10" in calls) == ("systemctl restart kubelet.service" in calls)
    return "systemctl restart kubelet.service" in calls


def test_kubelet_restarts_only_when_its_files_or_host_facts_change(tmp_path: Path) -> None:
    assert _restarted(tmp_path), "first start"
    assert (tmp_path / "hashes/kubelet.service.hash").read_text() == "ab" * 32 + "\n"
    assert not _restarted(tmp_path), "the same files again (a re-run step): no restart"
    assert _restarted(tmp_path, content_hash="cd" * 32), "a changed file"
    assert _restarted(tmp_path, mem_kb=900 * 1024, content_hash="cd" * 32), "host facts changed"
    assert not _restarted(tmp_path, mem_kb=900 * 1024, content_hash="cd" * 32)


def test_kubelet_without_a_recorded_hash_keeps_running_when_started_after_its_files(tmp_path: Path) -> None:
    """The first run after an upgrade from a version that did not record the hash."""
    config = tmp_path / "config.yaml"
    config.write_text("x")
    assert _restarted(tmp_path, watched=(config,))
    (tmp_path / "hashes/kubelet.service.hash").unlink()
    for f in (config, tmp_path / "config.d/50-host-facts.conf"):
        os.utime(f, (1_700_000_000, 1_700_000_000))
    started = "Tue 2023-11-14 22:13:21 UTC"  # a second after the files were written
    assert not _restarted(tmp_path, watched=(config,), started=started)
    assert (tmp_path / "hashes/kubelet.service.hash").exists()
    (tmp_path / "hashes/kubelet.service.hash").unlink()
    os.utime(config, (1_700_000_002, 1_700_000_002))  # written after kubelet started
    assert _restarted(tmp_path, watched=(config,), started=started)


def test_a_kubelet_refused_while_joining_is_reported_with_the_journal(tmp_path: Path) -> None:
    result = run_service(tmp_path, ROOMY, "cgroup2fs", resolved=False, bootstrapped=False, restart_loop=True)
    assert result.returncode == 1
    assert "kubelet keeps restarting" in result.stderr
    assert "fake journal line" in result.stderr
    assert "its bootstrap token has expired" in result.stderr


def test_the_cleanup_path_unit_removes_the_token_once_the_certificate_exists() -> None:
    units = kl.bootstrap_cleanup_units()
    path, service = units[kl.CLEANUP_PATH], units[kl.CLEANUP_SERVICE]
    assert f"PathExists={kl.CLIENT_CERT}\n" in path and f"Unit={kl.CLEANUP_SERVICE}\n" in path
    assert f"ExecStart=/bin/rm -f {kl.BOOTSTRAP_KUBECONFIG}\n" in service
    # Without it the path would start the oneshot again and again while the certificate exists.
    assert "RemainAfterExit=yes\n" in service


@pytest.mark.realtool
@pytest.mark.parametrize("which", ["service", "stop"])
def test_kubelet_scripts_pass_shellcheck(which: str, tmp_path: Path) -> None:
    spec = config_spec(TWO_NODES)
    node = spec.node("w1")
    text = {
        "service": kl.service_script(spec, node, "0" * 64, [kl.CONFIG, kl.UNIT_FILE]),
        "stop": kl.stop_script(),
    }[which]
    result = shellcheck(tmp_path, {"s": text})
    assert result.returncode == 0, result.stdout


@pytest.mark.realtool
def test_kubelet_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    spec = config_spec(TWO_NODES)
    unit = kl.kubelet_unit(spec, spec.node("cp1"))
    assert_units_verify(tmp_path, {"kubelet.service": unit}, ("/usr/local/bin/kubelet",))


@pytest.mark.realtool
def test_the_token_cleanup_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    assert_units_verify(tmp_path, kl.bootstrap_cleanup_units(), ("/bin/rm",), about="token cleanup")
