"""kube-proxy rendering: mode, cluster CIDR, identity and kubeconfig per node; scripts lint clean."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from render import kube_proxy as kp
from tests.support.specs import PRESETS, TWO_NODES, config_spec, preset_spec
from tests.support.tools import assert_units_verify, shellcheck


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
    spec = config_spec(TWO_NODES, kubeProxy={"mode": mode}, network={"podCidr": "10.32.0.0/16"})
    doc = kp.kube_proxy_config(spec, spec.node("w1"))
    assert doc["mode"] == mode and doc["clusterCIDR"] == "10.32.0.0/16"


def test_disabled_kube_proxy_renders_nothing() -> None:
    spec = config_spec(
        TWO_NODES, kubeProxy={"mode": "disabled"}, cni={"name": "cilium", "kubeProxyReplacement": True}
    )
    with pytest.raises(ValueError, match="disabled"):
        kp.kube_proxy_config(spec, spec.node("w1"))


def test_kubeconfig_is_private_and_the_unit_reads_the_config() -> None:
    assert kp.KUBECONFIG_META.mode == "0600"
    assert f"--config={kp.CONFIG}" in kp.kube_proxy_unit()


@pytest.mark.realtool
@pytest.mark.parametrize("which", ["service", "stop"])
def test_kube_proxy_scripts_pass_shellcheck(which: str, tmp_path: Path) -> None:
    spec = config_spec(TWO_NODES)
    service = kp.service_script(spec.node("w1"), "0" * 64, [kp.CONFIG, kp.KUBECONFIG])
    text = service if which == "service" else kp.stop_script()
    result = shellcheck(tmp_path, {"s": text})
    assert result.returncode == 0, result.stdout


@pytest.mark.realtool
def test_kube_proxy_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    units = {"kube-proxy.service": kp.kube_proxy_unit()}
    assert_units_verify(tmp_path, units, ("/usr/local/bin/kube-proxy",))


def test_conntrack_is_left_to_kube_proxy_unless_the_hosts_are_containers() -> None:
    assert "conntrack" not in kp.kube_proxy_config(config_spec(TWO_NODES), config_spec(TWO_NODES).node("w1"))
    spec = config_spec(TWO_NODES, kubeProxy={"conntrackMaxPerCore": 0})
    assert kp.kube_proxy_config(spec, spec.node("w1"))["conntrack"] == {"maxPerCore": 0}
