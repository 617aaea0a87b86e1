"""The real kubelet and kube-proxy (toolchain/build.sh builds them) accept what we render.

kubelet: started with each preset node's flags and config plus the host-facts drop-in our
service script writes for THIS machine, every path moved to a temp dir and the client CA file
missing. kubelet parses its flags, loads the config strictly, merges the drop-ins and validates
the result before it loads the client CA; so "unable to load client CA file" means every
setting was accepted, and kubelet stops there before touching the host.
kube-proxy: --write-config-to loads the config strictly, validates it and exits.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from render import kube_proxy as kp
from render import kubelet as kl
from spec.model import ClusterSpec, NodeSpec
from tests.support.kubelet import run_service
from tests.support.specs import PRESETS, TWO_NODES, config_spec, preset_spec

pytestmark = pytest.mark.realtool

TOOLCHAIN = os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain")


def binary(name: str) -> str | None:
    built = sorted(glob.glob(f"{TOOLCHAIN}/kubernetes/*/linux-*/{name}"))
    return built[-1] if built else shutil.which(name)


KUBELET = binary("kubelet")
KUBE_PROXY = binary("kube-proxy")
CGROUP_V1 = subprocess.run(
    ["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True, text=True
).stdout.strip() != ("cgroup2fs")


def host_facts(tmp_path: Path) -> Path:
    """The drop-in our kubelet service script writes from this machine's real facts."""
    work = tmp_path / "facts"
    work.mkdir()
    result = run_service(work, 0, "", resolved=False, bootstrapped=True, real_host=True)
    assert result.returncode == 0, result.stderr
    return work / "config.d"


def run_kubelet(
    tmp_path: Path, spec: ClusterSpec, node: NodeSpec, drop_ins: Path | None, **override: object
) -> subprocess.CompletedProcess[str]:
    assert KUBELET is not None
    config = kl.kubelet_config(spec, node)
    config["authentication"]["x509"]["clientCAFile"] = str(tmp_path / "missing-ca.crt")
    config.update(override)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    moved = {
        "--config": str(tmp_path / "config.yaml"),
        "--config-dir": str(drop_ins) if drop_ins else None,
        "--bootstrap-kubeconfig": str(tmp_path / "bootstrap-kubeconfig"),
        "--kubeconfig": str(tmp_path / "kubeconfig"),
        "--cert-dir": str(tmp_path / "pki"),
    }
    args = []
    for flag in kl.kubelet_flags(spec, node):
        name = flag.partition("=")[0]
        if name in moved:
            if moved[name] is not None:
                args.append(f"{name}={moved[name]}")
        else:
            args.append(flag)
    args.append(f"--root-dir={tmp_path / 'root'}")
    return subprocess.run([KUBELET, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)


ACCEPTED = "unable to load client CA file"


@pytest.mark.skipif(KUBELET is None, reason="no kubelet binary (toolchain/build.sh kubernetes)")
@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_kubelet_accepts_every_preset_nodes_flags_and_config(path: Path, tmp_path: Path) -> None:
    spec = preset_spec(path)
    drop_ins = host_facts(tmp_path)
    for node in spec.kubelet_nodes:
        work = tmp_path / node.name
        work.mkdir()
        result = run_kubelet(work, spec, node, drop_ins)
        assert ACCEPTED in result.stderr, result.stderr[-2000:]
        assert not (work / "root").exists(), "kubelet stopped before it touched anything"


@pytest.mark.skipif(KUBELET is None, reason="no kubelet binary (toolchain/build.sh kubernetes)")
def test_kubelet_refuses_a_bad_value_so_acceptance_means_something(tmp_path: Path) -> None:
    spec = config_spec(TWO_NODES)
    result = run_kubelet(tmp_path, spec, spec.node("w1"), host_facts(tmp_path), readOnlyPort=70000)
    assert "failed to validate kubelet configuration" in result.stderr and ACCEPTED not in result.stderr


@pytest.mark.skipif(KUBELET is None or not CGROUP_V1, reason="needs kubelet >= 1.35 on a cgroup v1 host")
def test_on_cgroup_v1_kubelet_runs_only_with_the_host_facts_drop_in(tmp_path: Path) -> None:
    spec = config_spec(TWO_NODES)
    (tmp_path / "without").mkdir()
    without = run_kubelet(tmp_path / "without", spec, spec.node("w1"), None)
    assert "configured to not run on a host using cgroup v1" in without.stderr, without.stderr[-2000:]
    assert "failCgroupV1: false" in (host_facts(tmp_path) / "50-host-facts.conf").read_text()


@pytest.mark.skipif(KUBE_PROXY is None, reason="no kube-proxy binary (toolchain/build.sh kubernetes)")
@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_kube_proxy_loads_and_validates_each_mode(mode: str, tmp_path: Path) -> None:
    assert KUBE_PROXY is not None
    spec = config_spec(TWO_NODES, kubeProxy={"mode": mode}, network={"podCidr": "10.32.0.0/16"})
    config = tmp_path / "config.yaml"
    config.write_text(kp.render_kube_proxy_config(spec, spec.node("w1")))
    out = tmp_path / "out.yaml"
    result = subprocess.run(
        [KUBE_PROXY, f"--config={config}", f"--write-config-to={out}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "strict decoding" not in result.stderr, result.stderr
    effective = yaml.safe_load(out.read_text())
    assert effective["mode"] == mode and effective["clusterCIDR"] == "10.32.0.0/16"
    assert effective["hostnameOverride"] == "w1"
    assert effective["clientConnection"]["kubeconfig"] == kp.KUBECONFIG


@pytest.mark.skipif(KUBE_PROXY is None, reason="no kube-proxy binary (toolchain/build.sh kubernetes)")
def test_kube_proxy_refuses_a_bad_mode_so_acceptance_means_something(tmp_path: Path) -> None:
    assert KUBE_PROXY is not None
    spec = config_spec(TWO_NODES)
    text = kp.render_kube_proxy_config(spec, spec.node("w1")).replace("mode: iptables", "mode: bogus")
    (tmp_path / "c.yaml").write_text(text)
    result = subprocess.run(
        [KUBE_PROXY, f"--config={tmp_path / 'c.yaml'}", f"--write-config-to={tmp_path / 'o.yaml'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "bogus" in result.stderr
