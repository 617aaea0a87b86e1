"""kube-proxy rendering: mode, cluster CIDR, identity and kubeconfig per node; scripts lint clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from render import kube_proxy as kp
from tests.test_kubelet_render import PRESETS, preset_spec
from tests.test_runtime_render import spec_of


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_kubelet_node_gets_the_proxy_mode_and_cidr_of_its_spec(path: Path) -> None:
    spec = preset_spec(path)
    for node in spec.kubelet_nodes:
        doc = yaml.safe_load(kp.render_kube_proxy_config(spec, node))
        expected = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": kp.KUBECONFIG},
            "mode": spec.kube_proxy.mode,
            "clusterCIDR": spec.network.pod_cidr,
            "hostnameOverride": node.name,
        }
        if spec.lab.enabled:  # the lab stacks: hosts are containers, conntrack sysctls read-only
            expected["conntrack"] = {"maxPerCore": 0}
        assert doc == expected


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_each_mode_is_rendered_as_asked(mode: str) -> None:
    spec = spec_of(kubeProxy={"mode": mode}, network={"podCidr": "10.32.0.0/16"})
    doc = kp.kube_proxy_config(spec, spec.node("w1"))
    assert doc["mode"] == mode and doc["clusterCIDR"] == "10.32.0.0/16"


def test_disabled_kube_proxy_renders_nothing() -> None:
    spec = spec_of(kubeProxy={"mode": "disabled"}, cni={"name": "cilium", "kubeProxyReplacement": True})
    with pytest.raises(ValueError, match="disabled"):
        kp.kube_proxy_config(spec, spec.node("w1"))


def test_kubeconfig_is_private_and_the_unit_reads_the_config() -> None:
    assert kp.KUBECONFIG_META.mode == "0600"
    assert f"--config={kp.CONFIG}" in kp.kube_proxy_unit()


@pytest.mark.realtool
@pytest.mark.parametrize("which", ["service", "stop"])
def test_kube_proxy_scripts_pass_shellcheck(which: str, tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    spec = spec_of()
    text = kp.service_script(spec.node("w1"), "0" * 64) if which == "service" else kp.stop_script()
    path = tmp_path / "s.sh"
    path.write_text(text)
    result = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.realtool
def test_kube_proxy_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    stand_in = tmp_path / "kube-proxy"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    path = tmp_path / "kube-proxy.service"
    path.write_text(kp.kube_proxy_unit().replace("/usr/local/bin/kube-proxy", str(stand_in)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True
    )
    problems = [line for line in result.stderr.splitlines() if "kube-proxy.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_conntrack_is_left_to_kube_proxy_unless_the_hosts_are_containers() -> None:
    assert "conntrack" not in kp.kube_proxy_config(spec_of(), spec_of().node("w1"))
    spec = spec_of(kubeProxy={"conntrackMaxPerCore": 0})
    assert kp.kube_proxy_config(spec, spec.node("w1"))["conntrack"] == {"maxPerCore": 0}
