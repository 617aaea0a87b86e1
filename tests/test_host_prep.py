"""Host preparation: rendered steps per role/OS, shellcheck over every preset, OS detection run for
real on sample /etc/os-release files, and the Host component's graph under the mocks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.host import Host, connection
from mockrun.program import run_function
from render import host_prep as h
from render import kubelet as kl
from render import scripts, systemd
from spec.model import ClusterSpec
from tests.support.specs import PRESETS, config_spec, preset_spec
from tests.support.tools import shellcheck

# a control plane, an arm64 worker on RHEL 7 and two etcd-only members
NODES = [
    {"name": "cp", "address": "10.1.0.1", "roles": ["etcd", "control-plane"]},
    {"name": "w", "address": "10.1.0.2", "roles": ["worker"], "arch": "arm64", "os": "rhel7"},
    {"name": "e1", "address": "10.1.0.3", "roles": ["etcd"]},
    {"name": "e2", "address": "10.1.0.4", "roles": ["etcd"]},
]


def _all_scripts(spec: ClusterSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in spec.nodes:
        out.setdefault(h.preflight_script(spec, node), f"{node.name}-preflight-create")
        for step in h.host_steps(spec, node):
            out.setdefault(h.standalone(node, step.create), f"{node.name}-{step.part}-create")
            out.setdefault(h.standalone(node, step.delete), f"{node.name}-{step.part}-delete")
    return {name: text for text, name in out.items() if text != "true"}


def test_firewall_ports_follow_roles_and_cni() -> None:
    spec = config_spec(NODES, cni={"name": "calico", "backend": "vxlan"})
    cp, w, e1, _ = spec.nodes
    assert h.firewall_ports(spec, e1) == ("2379-2380/tcp",)
    cp_ports = h.firewall_ports(spec, cp)
    assert {"2379-2380/tcp", "6443/tcp", "10257/tcp", "10259/tcp", "10250/tcp"} <= set(cp_ports)
    worker = set(h.firewall_ports(spec, w))
    assert {"10250/tcp", "30000-32767/tcp", "30000-32767/udp", "4789/udp", "5473/tcp"} <= worker
    assert "6443/tcp" not in worker and "2379-2380/tcp" not in worker
    flannel = config_spec(NODES)
    assert "8472/udp" in h.firewall_ports(flannel, flannel.nodes[1])
    weave = config_spec(NODES, cni={"name": "weave"})
    assert {"6783/tcp", "6783-6784/udp"} <= set(h.firewall_ports(weave, weave.nodes[1]))
    cilium = config_spec(NODES, cni={"name": "cilium"})
    assert {"8472/udp", "4240/tcp"} <= set(h.firewall_ports(cilium, cilium.nodes[1]))


def test_etcd_only_node_skips_kubelet_host_settings() -> None:
    spec = config_spec(NODES)
    parts = [s.part for s in h.host_steps(spec, spec.nodes[2])]
    assert parts == ["packages", "selinux", "firewall", "timesync"]
    assert h.kernel_files(spec, spec.nodes[2]) == []
    worker_parts = [s.part for s in h.host_steps(spec, spec.nodes[1])]
    assert worker_parts[:5] == ["packages", "kernel", "swap", "cmdline", "iptables"]


def test_kernel_files_persist_modules_and_sysctls() -> None:
    spec = config_spec(NODES, kubeProxy={"mode": "ipvs"})
    (mods_meta, mods), (ctl_meta, ctl) = h.kernel_files(spec, spec.nodes[1])
    assert mods_meta.path == "/etc/modules-load.d/k8s-from-scratch.conf"
    assert ctl_meta.path == "/etc/sysctl.d/90-k8s-from-scratch.conf"
    assert {"overlay", "br_netfilter", "ip_vs"} <= set(mods.split())
    assert "net.bridge.bridge-nf-call-iptables = 1" in ctl and "net.ipv4.ip_forward = 1" in ctl


def test_kubelet_nodes_get_the_kernel_tunables_kubelet_only_checks() -> None:
    """kubelet runs with protectKernelDefaults: it refuses to start unless these hold, and
    setupKernelTunables (pkg/kubelet/cm) wants exactly these values."""
    spec = config_spec(NODES)
    wanted = {
        "vm.overcommit_memory": "1",
        "vm.panic_on_oom": "0",
        "kernel.panic": "10",
        "kernel.panic_on_oops": "1",
        "kernel.keys.root_maxkeys": "1000000",
        "kernel.keys.root_maxbytes": "25000000",
    }
    assert wanted.items() <= dict(h.sysctls(spec, spec.nodes[1])).items()
    assert kl.kubelet_config(spec, spec.nodes[1])["protectKernelDefaults"] is True
    etcd_only = [n for n in spec.nodes if not n.runs_kubelet]
    assert all(h.sysctls(spec, n) == () for n in etcd_only)


def test_preflight_thresholds_per_role() -> None:
    spec = config_spec(NODES)
    cp = scripts.inline(h.preflight_script(spec, spec.nodes[0]))
    worker = scripts.inline(h.preflight_script(spec, spec.nodes[1]))
    assert "MEM_MIN_MB='1700'" in cp
    assert "MEM_MIN_MB='800'" in worker and "MEM_WARN_MB='1700'" in worker
    assert "flannel" in worker  # the 1 GB worker warning names the CNI
    # cgroup v1 is a warning: the kubelet step sets failCgroupV1: false on such hosts.
    assert "runs cgroup v1" in worker and "failCgroupV1" in worker
    assert "6443:kube-apiserver" in cp and "10257:kube-controller" in cp  # comm is 15 chars
    assert "2379:etcd" in cp and "10250:kubelet" in worker
    # No systemd version is asked of a control plane: its units work from systemd 219 (CentOS and
    # Oracle Linux 7) up (render/systemd.py, the secret copies).
    assert "systemctl --version" not in cp and "SYSTEMD_MIN" not in cp


def test_options_reach_the_scripts() -> None:
    spec = config_spec(NODES, iptablesBackend="legacy", security={"selinux": "enforcing"})
    steps = {s.part: s for s in h.host_steps(spec, spec.nodes[1])}
    assert "BACKEND='legacy'" in steps["iptables"].create
    assert "SELINUX_MODE='enforcing'" in steps["selinux"].create
    assert "OS_OVERRIDE='rhel7'" in h.host_lib(spec.nodes[1])
    assert "cgroup_enable=memory" in steps["cmdline"].create
    assert "TRUSTED='10.244.0.0/16 10.96.0.0/12'" in steps["firewall"].create


@pytest.mark.realtool
@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_rendered_host_script_passes_shellcheck(path: Path, tmp_path: Path) -> None:
    scripts = _all_scripts(preset_spec(path))
    scripts["service"] = systemd.service_script("x.service", "abc", "curl -sf https://127.0.0.1/")
    scripts["wait"] = systemd.wait_script("x", "true", unit="x.service")
    scripts["stop"] = systemd.stop_script("x.service", ["/var/lib/x"])
    result = shellcheck(tmp_path, scripts)
    assert result.returncode == 0, result.stdout[:5000]


@pytest.mark.realtool
def test_shellcheck_catches_a_broken_script(tmp_path: Path) -> None:
    spec = config_spec(NODES)
    broken = h.preflight_script(spec, spec.nodes[0]) + "if [ $x = 1 ]; then echo; fi\n"
    assert shellcheck(tmp_path, {"b": broken}).returncode != 0


OS_RELEASES = {
    "debian": 'ID=debian\nVERSION_ID="12"\n',
    "ubuntu": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
    "raspbian": 'ID=raspbian\nID_LIKE=debian\nVERSION_ID="11"\n',
    "rocky9": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
    "alma8": 'ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n',
    "centos8": 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="8"\n',
    "centos7": 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n',
    "oracle7": 'ID="ol"\nID_LIKE="fedora"\nVERSION_ID="7.9"\n',
}
EXPECTED = {
    "debian": "debian",
    "ubuntu": "debian",
    "raspbian": "debian",
    "rocky9": "rhel",
    "alma8": "rhel",
    "centos8": "rhel",
    "centos7": "rhel7",
    "oracle7": "rhel7",
}


def _detect(tmp_path: Path, os_release: str, override: str = "auto") -> subprocess.CompletedProcess[str]:
    release = tmp_path / "os-release"
    release.write_text(os_release)
    lib = scripts.body("host/lib.sh", NODE="n1", OS_OVERRIDE=override)
    script = scripts.inline(f'{lib}\necho "$FAMILY"\n')
    env = {"PATH": "/usr/bin:/bin", "OS_RELEASE": str(release), "HOST_STATE": str(tmp_path / "state")}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("name", sorted(OS_RELEASES))
def test_os_family_is_detected_on_the_host(tmp_path: Path, name: str) -> None:
    result = _detect(tmp_path, OS_RELEASES[name])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == EXPECTED[name]


def test_os_override_and_unknown_os(tmp_path: Path) -> None:
    assert _detect(tmp_path, "ID=arch\n", override="rhel").stdout.strip() == "rhel"
    unknown = _detect(tmp_path, "ID=arch\n")
    assert unknown.returncode != 0
    assert "n1 runs an unsupported OS" in unknown.stderr and "set the node's os" in unknown.stderr


# --- the component under the mocks -----------------------------------------------------------


def _host_graph(spec: ClusterSpec, index: int):
    node = spec.nodes[index]
    return run_function(lambda: Host(f"host-{node.name}", spec, node, connection(node)))


def _parts(text: str) -> list[str]:
    return [
        line.removeprefix("# --- part: ") for line in text.splitlines() if line.startswith("# --- part: ")
    ]


def test_host_component_graph() -> None:
    spec = config_spec(NODES)
    graph = _host_graph(spec, 1)
    host = graph.named("host-w")
    assert host.type == "k8s-from-scratch:index:Host"
    children = {r.name: r for r in graph.children(host)}
    assert set(children) == {"host-w-lib", "host-w-prepare", "host-w-binaries"}
    lib, prepare, binaries = children["host-w-lib"], children["host-w-prepare"], children["host-w-binaries"]
    # The script library first: every step sources it.
    assert lib.inputs["files"] == sorted(scripts.library())
    assert lib.urn in prepare.dependencies
    # Preflight first (nothing changes on a host that fails it), kernel files before the settings.
    assert _parts(prepare.inputs["create"]) == [
        "preflight",
        "packages",
        "kernel-files",
        "kernel",
        "swap",
        "cmdline",
        "iptables",
        "selinux",
        "firewall",
        "timesync",
    ]
    # Destroy undoes in reverse; packages last (the others' restore scripts use them).
    assert _parts(prepare.inputs["delete"]) == [
        "timesync",
        "firewall",
        "selinux",
        "iptables",
        "cmdline",
        "swap",
        "kernel",
        "kernel-files",
        "packages",
    ]
    # host_lib once, not per part; from the host's library, not in the text.
    assert prepare.inputs["create"].count(f"/{scripts.lib_file('host/lib.sh')}\n") == 1
    assert "os_family() {" not in prepare.inputs["create"]
    assert scripts.inline(prepare.inputs["create"]).count("os_family() {") == 1
    assert h.SYSCTL_FILE in prepare.inputs["stdin"] and f"# {h.SYSCTL_FILE} 0644" in prepare.inputs["create"]
    parts = ["kubernetes-node", "containerd", "runc", "crictl", "cni-plugins"]
    assert _parts(binaries.inputs["create"]) == parts
    assert _parts(binaries.inputs["delete"]) == parts[::-1]
    assert prepare.urn in binaries.dependencies  # curl and tar come with the packages
    for child in (prepare, binaries):
        assert child.inputs["connection"]["host"] == "10.1.0.2"
        assert any(p.startswith("connection") for p in child.secret_paths)
    assert lib.inputs["host"] == "10.1.0.2" and "private_key" in lib.secret_paths
    # every script names the node's architecture's artifact
    assert "kubernetes-node-linux-arm64.tar.gz" in binaries.inputs["create"]


def test_etcd_only_host_has_no_kernel_files_step() -> None:
    spec = config_spec(NODES)
    prepare = _host_graph(spec, 2).named("host-e1-prepare")
    assert _parts(prepare.inputs["create"]) == ["preflight", "packages", "selinux", "firewall", "timesync"]
    assert "stdin" not in prepare.inputs or not prepare.inputs["stdin"]


def test_unpinned_binaries_are_refused_before_any_host_exists() -> None:
    from spec import SpecError

    with pytest.raises(SpecError, match="no pinned checksum") as err:  # load_spec refuses them
        config_spec(NODES, versions={"containerd": "2.2.99"})
    assert {p.path for p in err.value.problems} == {"versions.containerd"}
