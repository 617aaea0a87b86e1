"""Runtime rendering: TOML emitter, containerd per version, CRI-O drop-in, crictl, units, scripts."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import runtime as rt
from render.common import MANAGED_MARKER
from render.scripts import inline
from spec import load_spec
from spec.model import ClusterSpec
from tests.support.specs import SSH_SECRET, TWO_NODES, config_raw, config_spec
from tests.support.tools import assert_units_verify, shellcheck


def with_containerd(version: str) -> ClusterSpec:
    """The two-node spec at a containerd version without a pinned checksum (load_spec refuses it)."""
    spec = config_spec(TWO_NODES)
    return dataclasses.replace(spec, versions=dataclasses.replace(spec.versions, containerd=version))


# --- TOML ----------------------------------------------------------------------------------------


def test_every_toml_file_parses_back_to_its_data() -> None:
    """What tomli-w writes is what the config data says, for every format and runtime."""
    spec = config_spec(
        TWO_NODES, runtime={"kata": True}, images={"registry": "10.0.0.1:5000/k8s", "plainHttp": True}
    )
    for version in ("1.7.27", "2.0.6", "2.2.1", "2.3.7"):
        text = rt.render_containerd_config(spec, version=version)
        assert tomllib.loads(text) == rt.containerd_config(spec, version=version), version
    assert tomllib.loads(rt.render_crio_config(spec)) == rt.crio_config(spec)
    server = "http://10.0.0.1:5000"
    assert tomllib.loads(rt.containerd_hosts_toml(spec)) == {
        "server": server,
        "host": {server: {"capabilities": ["pull", "resolve"]}},
    }
    registries = tomllib.loads(rt.crio_registries(spec))
    assert registries == {"registry": [{"location": "10.0.0.1:5000", "insecure": True}]}


def test_toml_quotes_dotted_keys() -> None:
    text = rt.render_containerd_config(config_spec(TWO_NODES), version="1.7.27")
    assert '[plugins."io.containerd.grpc.v1.cri"]' in text


# --- containerd ----------------------------------------------------------------------------------


def cri_v3(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    plugins = doc["plugins"]
    return plugins["io.containerd.cri.v1.images"], plugins["io.containerd.cri.v1.runtime"]


def test_containerd_2_2_uses_config_version_3_with_bin_dirs() -> None:
    spec = config_spec(TWO_NODES)
    doc = tomllib.loads(rt.render_containerd_config(spec))
    assert doc["version"] == 3
    assert doc["grpc"] == {"address": rt.CONTAINERD.socket}
    images, runtime = cri_v3(doc)
    assert images["pinned_images"]["sandbox"] == f"registry.k8s.io/pause:{spec.versions.pause}"
    assert runtime["containerd"]["default_runtime_name"] == "runc"
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {"BinaryName": "/usr/local/sbin/runc", "SystemdCgroup": True}
    assert runtime["cni"] == {"bin_dirs": ["/opt/cni/bin"], "conf_dir": "/etc/cni/net.d"}
    assert "io.containerd.grpc.v1.cri" not in doc["plugins"]
    assert list(runtime["containerd"]["runtimes"]) == ["runc"], "no kata handler unless asked"


def test_containerd_2_3_uses_config_version_4_with_the_grpc_address_in_a_plugin() -> None:
    doc = tomllib.loads(rt.render_containerd_config(with_containerd("2.3.7")))
    assert doc["version"] == 4
    assert "grpc" not in doc
    assert doc["plugins"]["io.containerd.server.v1.grpc"] == {"address": rt.CONTAINERD.socket}
    images, runtime = cri_v3(doc)
    assert images["pinned_images"]["sandbox"].startswith("registry.k8s.io/pause:")
    assert runtime["cni"]["bin_dirs"] == ["/opt/cni/bin"]


def test_containerd_2_0_keeps_the_single_bin_dir() -> None:
    doc = tomllib.loads(rt.render_containerd_config(with_containerd("2.0.6")))
    assert doc["version"] == 3
    assert cri_v3(doc)[1]["cni"] == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}


@pytest.mark.parametrize("version", ["1.7.28", "1.6.20"])
def test_containerd_1x_uses_version_2_under_the_grpc_cri_plugin(version: str) -> None:
    doc = tomllib.loads(rt.render_containerd_config(config_spec(TWO_NODES), version=version))
    assert doc["version"] == 2
    assert set(doc["plugins"]) == {"io.containerd.grpc.v1.cri"}
    cri = doc["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"].startswith("registry.k8s.io/pause:")
    assert cri["cni"] == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}
    assert cri["containerd"]["default_runtime_name"] == "runc"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True


def test_containerd_kata_handler_and_cgroupfs_driver_follow_the_spec() -> None:
    spec = config_spec(TWO_NODES, runtime={"kata": True, "cgroupDriver": "cgroupfs"})
    runtimes = cri_v3(rt.containerd_config(spec))[1]["containerd"]["runtimes"]
    assert runtimes["runc"]["options"]["SystemdCgroup"] is False
    kata = runtimes[rt.KATA_HANDLER]
    assert kata["runtime_type"] == "io.containerd.kata.v2"
    assert kata["runtime_path"] == "/opt/kata/bin/containerd-shim-kata-v2"
    assert kata["options"]["ConfigPath"].endswith("configuration.toml")
    assert kata["privileged_without_host_devices"] is True


@pytest.mark.parametrize("version", ["1.7.28", "2.2.8", "2.3.7"])
def test_containerd_labels_containers_under_selinux_enforcing(version: str) -> None:
    """security.selinux: enforcing (the default) turns on containerd's SELinux support, in the CRI
    runtime settings of each config format; the permissive opt-out leaves containerd's default."""

    def cri_runtime(doc: dict[str, Any]) -> dict[str, Any]:
        plugins = doc["plugins"]
        return plugins.get("io.containerd.cri.v1.runtime") or plugins["io.containerd.grpc.v1.cri"]

    on = tomllib.loads(rt.render_containerd_config(config_spec(TWO_NODES), version=version))
    assert cri_runtime(on)["enable_selinux"] is True
    opt_out = config_spec(TWO_NODES, security={"selinux": "permissive"})
    off = tomllib.loads(rt.render_containerd_config(opt_out, version=version))
    assert "enable_selinux" not in cri_runtime(off)


def test_pause_image_follows_the_registry_mirror_and_pin() -> None:
    spec = config_spec(
        TWO_NODES, images={"registry": "mirror.example.com:5000/k8s"}, versions={"pause": "3.9"}
    )
    assert rt.pause_image(spec) == "mirror.example.com:5000/k8s/pause:3.9"
    assert cri_v3(rt.containerd_config(spec))[0]["pinned_images"]["sandbox"] == rt.pause_image(spec)
    assert rt.crio_config(spec)["crio"]["image"]["pause_image"] == rt.pause_image(spec)


# --- CRI-O and crictl ----------------------------------------------------------------------------


def test_crio_drop_in_sets_systemd_cgroups_runc_default_and_kata_vm_handler() -> None:
    spec = config_spec(TWO_NODES, runtime={"name": "crio", "kata": True})
    doc = tomllib.loads(rt.render_crio_config(spec))["crio"]
    assert doc["runtime"]["cgroup_manager"] == "systemd"
    assert doc["runtime"]["default_runtime"] == "runc"
    runc = doc["runtime"]["runtimes"]["runc"]
    assert runc["monitor_cgroup"] == "pod" and runc["runtime_path"] == "/opt/crio/bin/runc"
    kata = doc["runtime"]["runtimes"][rt.KATA_HANDLER]
    assert kata["runtime_type"] == "vm"
    assert kata["runtime_path"] == rt.KATA_SHIM and kata["runtime_config_path"] == rt.KATA_CONFIG
    assert doc["api"]["listen"] == rt.CRIO.socket
    assert doc["image"]["signature_policy"] == rt.CRIO_POLICY
    assert doc["network"] == {"network_dir": "/etc/cni/net.d", "plugin_dirs": ["/opt/cni/bin"]}


def test_crio_labels_containers_under_selinux_enforcing() -> None:
    on = rt.crio_config(config_spec(TWO_NODES, runtime={"name": "crio"}))
    assert on["crio"]["runtime"]["selinux"] is True
    opt_out = config_spec(TWO_NODES, runtime={"name": "crio"}, security={"selinux": "permissive"})
    assert "selinux" not in rt.crio_config(opt_out)["crio"]["runtime"]  # CRI-O's default: the host's


def test_crio_without_kata_has_only_runc() -> None:
    doc = rt.crio_config(config_spec(TWO_NODES, runtime={"name": "crio"}))
    assert list(doc["crio"]["runtime"]["runtimes"]) == ["runc"]


@pytest.mark.parametrize("name", ["containerd", "crio"])
def test_crictl_points_at_the_runtime_socket(name: str) -> None:
    spec = config_spec(TWO_NODES, runtime={"name": name})
    doc = yaml.safe_load(rt.crictl_config(spec))
    assert doc["runtime-endpoint"] == doc["image-endpoint"] == rt.RUNTIMES[name].endpoint


@pytest.mark.parametrize("name", ["containerd", "crio"])
def test_runtime_files_are_ours_and_never_touch_the_other_runtime(name: str) -> None:
    spec = config_spec(TWO_NODES, runtime={"name": name})
    files = rt.runtime_files(spec)
    paths = {f.meta.path for f in files}
    assert f"/etc/systemd/system/{rt.RUNTIMES[name].unit}" in paths
    assert rt.CRICTL_CONFIG in paths
    other = "crio" if name == "containerd" else "containerd"
    assert not [p for p in paths if other in p]
    for f in files:
        if f.meta.path.endswith((".toml", ".conf", ".service", ".yaml")):
            assert MANAGED_MARKER in f.content, f.meta.path


def test_runtime_version_is_part_of_the_config_so_upgrades_restart() -> None:
    a = rt.render_crio_config(config_spec(TWO_NODES, runtime={"name": "crio"}))
    b = rt.render_crio_config(config_spec(TWO_NODES, runtime={"name": "crio"}, versions={"crio": "1.35.9"}))
    assert a != b
    c = rt.render_containerd_config(with_containerd("2.2.1"))
    assert c != rt.render_containerd_config(config_spec(TWO_NODES))


# --- the exclusivity preflight on a fake root ----------------------------------------------------


class FakeHost:
    """A root directory with unit files, sockets and binaries, and a fake systemctl."""

    def __init__(self, base: Path) -> None:
        self.root = base / "r"
        self.bin = base / "bin"
        self.bin.mkdir(parents=True)
        self.state = base / "enabled-units"
        self.state.write_text("")
        systemctl = self.bin / "systemctl"
        systemctl.write_text(
            '#!/bin/sh\ncase "$1" in is-active|is-enabled) grep -qx "$3" "$FAKE_UNITS" ;; *) exit 0 ;; esac\n'
        )
        systemctl.chmod(0o755)
        self._sockets: list[socket.socket] = []

    def file(self, path: str, content: str = "", mode: int = 0o644) -> None:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)

    def binaries(self, spec: ClusterSpec) -> None:
        info = rt.runtime_info(spec)
        for b in [*info.binaries, f"{rt.CNI_BIN_DIR}/loopback"]:
            self.file(b, "#!/bin/sh\n", 0o755)
        if spec.runtime.kata:
            self.file(rt.KATA_SHIM, "#!/bin/sh\n", 0o755)
            self.file(rt.KATA_CONFIG, "")

    def socket(self, path: str) -> None:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
        self._sockets.append(s)

    def enabled(self, unit: str) -> None:
        self.state.write_text(self.state.read_text() + unit + "\n")

    def preflight(self, spec: ClusterSpec) -> subprocess.CompletedProcess[str]:
        script = rt.preflight_script(spec, "n1", root=str(self.root))
        env = {"PATH": f"{self.bin}:/usr/bin:/bin:/usr/sbin:/sbin", "FAKE_UNITS": str(self.state)}
        return subprocess.run(
            ["sh", "-c", inline(script)], text=True, capture_output=True, env=env, timeout=30
        )

    def close(self) -> None:
        for s in self._sockets:
            s.close()


@pytest.fixture
def host(tmp_path: Path) -> Any:
    fake = FakeHost(tmp_path)
    yield fake
    fake.close()


def test_preflight_passes_on_a_clean_host(host: FakeHost) -> None:
    spec = config_spec(TWO_NODES)
    host.binaries(spec)
    result = host.preflight(spec)
    assert result.returncode == 0, result.stderr
    assert "no other container runtime" in result.stdout


def test_preflight_passes_again_over_our_own_running_install(host: FakeHost) -> None:
    spec = config_spec(TWO_NODES)
    host.binaries(spec)
    host.file("/etc/systemd/system/containerd.service", rt.runtime_unit(spec))
    host.socket(rt.CONTAINERD.socket)
    host.enabled("containerd.service")
    assert host.preflight(spec).returncode == 0


def test_preflight_refuses_docker_and_its_containerd_s1(host: FakeHost) -> None:
    spec = config_spec(TWO_NODES)
    host.binaries(spec)
    host.file("/lib/systemd/system/docker.service", "[Service]\nExecStart=/usr/bin/dockerd\n")
    host.file("/lib/systemd/system/containerd.service", "[Service]\nExecStart=/usr/bin/containerd\n")
    host.socket(rt.CONTAINERD.socket)
    result = host.preflight(spec)
    assert result.returncode == 1
    assert "Docker is installed" in result.stderr
    assert "containerd.service is already provided by" in result.stderr
    assert "no containerd of ours is installed" in result.stderr
    assert "nothing was changed" in result.stderr


def test_preflight_refuses_a_foreign_socket_without_a_unit(host: FakeHost) -> None:
    spec = config_spec(TWO_NODES, runtime={"name": "crio"})
    host.binaries(spec)
    host.socket(rt.CRIO.socket)
    result = host.preflight(spec)
    assert result.returncode == 1
    assert "/var/run/crio/crio.sock exists, but no crio of ours" in result.stderr


@pytest.mark.parametrize("ours", [True, False])
def test_preflight_refuses_crio_beside_an_enabled_containerd(host: FakeHost, ours: bool) -> None:
    spec = config_spec(TWO_NODES, runtime={"name": "crio"})
    host.binaries(spec)
    unit = rt.runtime_unit(config_spec(TWO_NODES)) if ours else "[Service]\nExecStart=/usr/bin/containerd\n"
    host.file("/usr/lib/systemd/system/containerd.service", unit)
    host.enabled("containerd.service")
    result = host.preflight(spec)
    assert result.returncode == 1
    assert "containerd (" in result.stderr and "enabled or running" in result.stderr
    assert ("earlier runtime.name" in result.stderr) is ours


def test_preflight_allows_a_disabled_stopped_other_runtime(host: FakeHost) -> None:
    spec = config_spec(TWO_NODES, runtime={"name": "crio"})
    host.binaries(spec)
    host.file("/usr/lib/systemd/system/containerd.service", "[Service]\n")
    assert host.preflight(spec).returncode == 0


def test_preflight_lists_every_missing_binary_and_kata_file(host: FakeHost) -> None:
    spec = config_spec(TWO_NODES, runtime={"name": "crio", "kata": True})
    result = host.preflight(spec)
    assert result.returncode == 1
    for b in [*rt.CRIO.binaries, rt.KATA_SHIM, "/opt/cni/bin/loopback", rt.KATA_CONFIG]:
        assert b in result.stderr, b
    assert "/dev/kvm is missing" in result.stderr


# --- real tools on the rendered output -----------------------------------------------------------


def rendered_scripts() -> dict[str, str]:
    out = {}
    for name in ("containerd", "crio"):
        spec = config_spec(TWO_NODES, runtime={"name": name, "kata": True})
        out[f"{name}-preflight"] = rt.preflight_script(spec, "n1")
        out[f"{name}-service"] = rt.service_script(spec, "0" * 64, ["/etc/containerd/config.toml"])
        out[f"{name}-stop"] = rt.stop_script(spec)
    return out


@pytest.mark.realtool
@pytest.mark.parametrize("name", sorted(rendered_scripts()))
def test_runtime_scripts_pass_shellcheck(name: str, tmp_path: Path) -> None:
    result = shellcheck(tmp_path, {name: rendered_scripts()[name]})
    assert result.returncode == 0, result.stdout


@pytest.mark.realtool
@pytest.mark.parametrize("name", ["containerd", "crio"])
def test_runtime_units_pass_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    unit = rt.runtime_unit(config_spec(TWO_NODES, runtime={"name": name}))
    binaries = ("/usr/local/bin/containerd", "/opt/crio/bin/crio")
    assert_units_verify(tmp_path, {rt.RUNTIMES[name].unit: unit}, binaries)


# --- a registry of the user's, and the lab's OOM-score clamp --------------------------------------


@pytest.mark.parametrize("plain_http, scheme", [(False, "https"), (True, "http")])
def test_containerd_pulls_through_the_named_registry(plain_http: bool, scheme: str) -> None:
    spec = config_spec(TWO_NODES, images={"registry": "mirror.example:5000/k8s", "plainHttp": plain_http})
    files = {f.meta.path: f.content for f in rt.runtime_files(spec)}
    hosts = tomllib.loads(files["/etc/containerd/certs.d/mirror.example:5000/hosts.toml"])
    assert hosts == {
        "server": f"{scheme}://mirror.example:5000",
        "host": {f"{scheme}://mirror.example:5000": {"capabilities": ["pull", "resolve"]}},
    }
    config = tomllib.loads(files[rt.CONTAINERD_CONFIG])
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["registry"] == {"config_path": "/etc/containerd/certs.d"}
    assert images["pinned_images"]["sandbox"] == "mirror.example:5000/k8s/pause:3.10.1"
    # Destroy removes the host folder before the certs.d folder before /etc/containerd.
    assert rt.runtime_dirs(spec) == (
        "/etc/containerd/certs.d/mirror.example:5000",
        "/etc/containerd/certs.d",
        "/etc/containerd",
    )


def test_without_a_registry_containerd_has_no_host_config() -> None:
    spec = config_spec(TWO_NODES)
    assert [f.meta.path for f in rt.runtime_files(spec) if "certs.d" in f.meta.path] == []
    assert "registry" not in rt.containerd_config(spec)["plugins"]["io.containerd.cri.v1.images"]


def test_crio_gets_an_insecure_registry_drop_in_only_for_plain_http() -> None:
    plain = config_spec(
        TWO_NODES, runtime={"name": "crio"}, images={"registry": "10.0.0.1:5000", "plainHttp": True}
    )
    files = {f.meta.path: f.content for f in rt.runtime_files(plain)}
    assert tomllib.loads(files[rt.CRIO_REGISTRIES_DROP_IN]) == {
        "registry": [{"location": "10.0.0.1:5000", "insecure": True}]
    }
    tls = config_spec(TWO_NODES, runtime={"name": "crio"}, images={"registry": "10.0.0.1:5000"})
    assert rt.CRIO_REGISTRIES_DROP_IN not in {f.meta.path for f in rt.runtime_files(tls)}


@pytest.mark.parametrize(
    "version, plugin",
    [
        ("2.3.7", "io.containerd.cri.v1.runtime"),
        ("2.2.1", "io.containerd.cri.v1.runtime"),
        ("1.7.27", "io.containerd.grpc.v1.cri"),
    ],
)
def test_the_lab_flag_clamps_oom_scores_in_every_config_format(version: str, plugin: str) -> None:
    lab = config_spec(TWO_NODES, runtime={"restrictOomScoreAdj": True})
    assert rt.containerd_config(lab, version=version)["plugins"][plugin]["restrict_oom_score_adj"] is True
    real = config_spec(TWO_NODES)
    assert "restrict_oom_score_adj" not in rt.containerd_config(real, version=version)["plugins"][plugin]


def test_plain_http_needs_a_registry_and_warns_off_the_lab() -> None:
    from spec import SpecError

    raw = config_raw(TWO_NODES, images={"plainHttp": True})
    with pytest.raises(SpecError) as err:
        load_spec(raw, "test", SSH_SECRET)
    assert "images.plainHttp" in str(err.value)
    raw["images"]["registry"] = "10.0.0.1:5000"
    _, warnings = load_spec(raw, "test", SSH_SECRET)
    assert any("images.plainHttp" in str(w) for w in warnings)
