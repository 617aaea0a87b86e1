"""security.selinux on a fake RHEL host: the selinux part and its undo, the preflight's container
policy check and the container-selinux package, run with stand-ins for getenforce, setenforce,
semodule, rpm and dnf (their state in files under tmp_path)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from render import host_prep as h
from render.scripts import inline
from spec.model import ClusterSpec, NodeSpec
from tests.support.specs import TWO_NODES, config_spec

ENFORCING_CONFIG = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
# Two etcd-only members beside cp1's: three, an odd count.
ETCD_ONLY = [{"name": f"e{i}", "address": f"192.168.10.3{i}", "roles": ["etcd"]} for i in (1, 2)]

# getenforce/setenforce keep the mode in $FAKE/mode; semodule lists $FAKE/modules; dnf has every
# package but those named in $FAKE/unpackaged and logs installs to $FAKE/calls.
TOOLS = {
    "getenforce": '#!/bin/sh\ncat "$FAKE/mode"\n',
    "setenforce": (
        '#!/bin/sh\necho "setenforce $1" >>"$FAKE/calls"\n'
        'case "$1" in 1) echo Enforcing ;; *) echo Permissive ;; esac >"$FAKE/mode"\n'
    ),
    "semodule": '#!/bin/sh\n[ "$1" = -l ] && cat "$FAKE/modules"\n',
    "rpm": "#!/bin/sh\nexit 1\n",  # nothing is installed
    "dnf": (
        "#!/bin/sh\n"
        'for last in "$@"; do :; done\n'
        'case "$*" in\n'
        '  *" list "*) ! grep -qx "$last" "$FAKE/unpackaged" ;;\n'
        '  *install*) echo "dnf $*" >>"$FAKE/calls" ;;\n'
        "esac\n"
    ),
}


@dataclass
class FakeHost:
    root: Path

    def mode(self) -> str:
        return (self.root / "mode").read_text().strip()

    def config(self) -> str:
        return (self.root / "selinux-config").read_text()

    def record(self) -> Path:
        return self.root / "state" / "selinux"

    def calls(self) -> str:
        path = self.root / "calls"
        return path.read_text() if path.exists() else ""

    def run(self, node: NodeSpec, body: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.root / 'bin'}:/usr/bin:/bin",
            "FAKE": str(self.root),
            "HOST_STATE": str(self.root / "state"),
            "OS_RELEASE": str(self.root / "os-release"),
            "SELINUX_CONFIG": str(self.root / "selinux-config"),
        }
        script = inline(h.standalone(node, body))  # with the host library's text in place
        return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=60)


def fake_host(tmp_path: Path, mode: str | None, modules: str = "", unpackaged: str = "") -> FakeHost:
    """A Rocky 9 host in SELinux `mode` (None: no SELinux tools at all)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in TOOLS.items():
        if mode is None and name in ("getenforce", "setenforce", "semodule"):
            continue
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    if mode is not None:
        (tmp_path / "mode").write_text(mode + "\n")
    (tmp_path / "modules").write_text(modules)
    (tmp_path / "unpackaged").write_text(unpackaged)
    (tmp_path / "selinux-config").write_text(ENFORCING_CONFIG)
    (tmp_path / "os-release").write_text('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n')
    return FakeHost(tmp_path)


def _spec(selinux: str | None = None, nodes: list[dict[str, Any]] = TWO_NODES) -> ClusterSpec:
    security: dict[str, Any] = {"selinux": selinux} if selinux else {}
    return config_spec(nodes, security=security)


def _part(spec: ClusterSpec, node: NodeSpec, name: str) -> h.HostStep:
    return next(s for s in h.host_steps(spec, node) if s.part == name)


def test_enforcing_is_the_default() -> None:
    assert _spec().security.selinux == "enforcing"


def test_enforcing_keeps_an_enforcing_host(tmp_path: Path) -> None:
    spec = _spec()
    host = fake_host(tmp_path, "Enforcing")
    result = host.run(spec.nodes[1], _part(spec, spec.nodes[1], "selinux").create)
    assert result.returncode == 0, result.stderr
    assert "Enforcing, kept" in result.stdout
    assert host.mode() == "Enforcing" and host.config() == ENFORCING_CONFIG
    assert not host.record().exists() and "setenforce" not in host.calls()


def test_enforcing_leaves_a_permissive_host_as_found(tmp_path: Path) -> None:
    spec = _spec()
    host = fake_host(tmp_path, "Permissive")
    result = host.run(spec.nodes[1], _part(spec, spec.nodes[1], "selinux").create)
    assert result.returncode == 0, result.stderr
    assert "Permissive, left as found" in result.stdout
    assert host.mode() == "Permissive" and "setenforce" not in host.calls()


def test_no_selinux_is_not_active(tmp_path: Path) -> None:
    spec = _spec()
    host = fake_host(tmp_path, None)
    result = host.run(spec.nodes[1], _part(spec, spec.nodes[1], "selinux").create)
    assert result.returncode == 0, result.stderr
    assert "SELinux: not active" in result.stdout


def test_permissive_opt_out_is_undone_by_destroy(tmp_path: Path) -> None:
    spec = _spec("permissive")
    node = spec.nodes[1]
    host = fake_host(tmp_path, "Enforcing")
    step = _part(spec, node, "selinux")
    result = host.run(node, step.create)
    assert result.returncode == 0, result.stderr
    assert host.mode() == "Permissive" and "SELINUX=permissive" in host.config()
    assert host.record().read_text().strip() == "config"
    again = host.run(node, step.create)  # a re-run changes nothing
    assert again.returncode == 0 and "SELinux: Permissive" in again.stdout
    undo = host.run(node, step.delete)
    assert undo.returncode == 0, undo.stderr
    assert host.mode() == "Enforcing" and host.config() == ENFORCING_CONFIG
    assert not host.record().exists()


def test_enforcing_after_an_earlier_permissive_run_puts_enforcing_back(tmp_path: Path) -> None:
    """A stack made under the old default (permissive) converges to enforcing on its next run."""
    host = fake_host(tmp_path, "Enforcing")
    node = _spec().nodes[1]
    assert host.run(node, _part(_spec("permissive"), node, "selinux").create).returncode == 0
    assert host.mode() == "Permissive"
    result = host.run(node, _part(_spec(), node, "selinux").create)
    assert result.returncode == 0, result.stderr
    assert "Permissive -> Enforcing" in result.stdout
    assert host.mode() == "Enforcing" and host.config() == ENFORCING_CONFIG
    assert not host.record().exists()


POLICY_FAILURE = "no container policy is loaded"


@pytest.mark.parametrize(
    ("mode", "modules", "unpackaged", "refused"),
    [
        ("Enforcing", "base\ncontainer\n", "container-selinux\n", False),  # the policy is loaded
        ("Enforcing", "base\n", "", False),  # the packages part installs it
        ("Enforcing", "base\n", "container-selinux\n", True),  # neither
        ("Permissive", "base\n", "container-selinux\n", False),  # left Permissive: nothing is denied
    ],
)
def test_preflight_wants_the_container_policy_on_enforcing_hosts(
    tmp_path: Path, mode: str, modules: str, unpackaged: str, refused: bool
) -> None:
    spec = _spec()
    host = fake_host(tmp_path, mode, modules, unpackaged)
    result = host.run(spec.nodes[1], h.preflight_body(spec, spec.nodes[1]))
    # The rest of the preflight reads this machine (modules, ports): only the SELinux check counts.
    assert (POLICY_FAILURE in result.stderr) is refused, result.stderr
    if refused:
        assert result.returncode != 0
        assert "container-selinux" in result.stderr and "security.selinux: permissive" in result.stderr


def test_preflight_counts_a_host_we_set_permissive_as_enforcing(tmp_path: Path) -> None:
    spec = _spec()
    host = fake_host(tmp_path, "Permissive", "base\n", "container-selinux\n")
    host.record().parent.mkdir()
    host.record().write_text("config\n")  # an earlier permissive run's record
    result = host.run(spec.nodes[1], h.preflight_body(spec, spec.nodes[1]))
    assert POLICY_FAILURE in result.stderr


def test_preflight_skips_the_check_for_permissive_and_nodes_without_containers(tmp_path: Path) -> None:
    spec = config_spec([*TWO_NODES, *ETCD_ONLY])
    host = fake_host(tmp_path, "Enforcing", "base\n", "container-selinux\n")
    etcd = spec.node("e1")  # no kubelet, no containers
    assert POLICY_FAILURE not in host.run(etcd, h.preflight_body(spec, etcd)).stderr
    opt_out = _spec("permissive")
    worker = opt_out.nodes[1]
    assert POLICY_FAILURE not in host.run(worker, h.preflight_body(opt_out, worker)).stderr


@pytest.mark.parametrize(
    ("mode", "selinux", "node", "installed"),
    [
        ("Enforcing", None, 1, True),
        ("Permissive", None, 1, True),
        (None, None, 1, False),  # SELinux not active
        ("Enforcing", "permissive", 1, False),  # the opt-out
        ("Enforcing", None, 2, False),  # etcd only: no containers on this node
    ],
)
def test_container_selinux_is_installed_where_it_is_needed(
    tmp_path: Path, mode: str | None, selinux: str | None, node: int, installed: bool
) -> None:
    spec = _spec(selinux, [*TWO_NODES, *ETCD_ONLY])
    host = fake_host(tmp_path, mode)
    result = host.run(spec.nodes[node], _part(spec, spec.nodes[node], "packages").create)
    assert result.returncode == 0, result.stderr
    assert ("container-selinux" in host.calls()) is installed, host.calls()
    record = (tmp_path / "state" / "packages").read_text().split()
    assert ("container-selinux" in record) is installed  # destroy removes what we installed


def test_container_selinux_is_optional_where_not_packaged(tmp_path: Path) -> None:
    spec = _spec()
    host = fake_host(tmp_path, "Enforcing", unpackaged="container-selinux\n")
    result = host.run(spec.nodes[1], _part(spec, spec.nodes[1], "packages").create)
    assert result.returncode == 0, result.stderr
    assert "dnf install" in host.calls() and "container-selinux" not in host.calls()
