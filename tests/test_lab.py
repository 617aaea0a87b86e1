"""The lab: lab.sh under shellcheck and its argument checks, the binary mirror (layout, reproducible
archives, checksums fed to the spec) and the Lab component's graph under the mocks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from pulumi_command import local

from components.lab import Lab, lab_environment
from lab import mirror
from mockrun.program import REPO, Graph, run_function
from render.artifacts import node_artifacts
from spec import SpecError, load_spec
from spec.binaries import checksum
from spec.model import ClusterSpec
from spec.parse import parse
from tests.harness.lab_fakes import VERSIONS, fake_toolchain
from tests.support.specs import ONE_NODE, config_spec

LAB_SH = REPO / "lab" / "lab.sh"


def lab_raw(**lab: Any) -> dict[str, Any]:
    return {"kubernetesVersion": "1.35.4", "versions": VERSIONS, "lab": {"enabled": True, **lab}}


def lab_spec(**lab: Any) -> ClusterSpec:
    """The lab stack as `lab.mirror build` reads it: parsed, its binaries not wired to a mirror."""
    spec, _ = parse(lab_raw(**lab), "dev")
    return spec


# --------------------------------------------------------------------------- lab.sh


@pytest.mark.realtool
def test_lab_sh_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", "-x", str(LAB_SH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "Bad_Name", "10.231.0.11"], "is not a DNS label"),
        (["create", "ok", "10.231.0.300"], "is not an IPv4 address"),
        (["create", "ok", "10.231.0"], "is not an IPv4 address"),
        (["destroy", "-rf"], "is not a DNS label"),
        (["mirror-start", "/nonexistent/k8sfs"], "does not exist"),
    ],
)
def test_lab_sh_refuses_bad_arguments_before_touching_anything(
    tmp_path: Path, args: list[str], message: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("lab.sh checks for root first")
    env = {**os.environ, "K8SFS_LAB_WORK_DIR": str(tmp_path / "work"), "K8SFS_LAB_BRIDGE": "br-k8sfs-none"}
    result = subprocess.run(["bash", str(LAB_SH), *args], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "work" / "hosts").exists()
    assert subprocess.run(["ip", "link", "show", "br-k8sfs-none"], capture_output=True).returncode != 0


def test_lab_sh_usage_lists_every_subcommand() -> None:
    result = subprocess.run(["bash", str(LAB_SH), "help"], capture_output=True, text=True)
    assert result.returncode == 2
    for sub in (
        "base",
        "network-up",
        "create NAME IP",
        "destroy NAME",
        "mirror-start DIR",
        "mirror-stop",
        "status",
    ):
        assert sub in result.stderr


# --------------------------------------------------------------------------- mirror


def test_mirror_url_and_gateway_follow_the_subnet() -> None:
    assert mirror.mirror_url(lab_spec()) == "http://10.231.0.1:8088"
    assert mirror.mirror_url(lab_spec(subnet="10.77.5.0/24")) == "http://10.77.5.1:8088"
    env = lab_environment(lab_spec(subnet="10.77.5.0/24", workDir="/srv/lab"))
    assert env == {
        "K8SFS_LAB_WORK_DIR": "/srv/lab",
        "K8SFS_LAB_GATEWAY": "10.77.5.1/24",
        "K8SFS_LAB_RELEASE": "bookworm",
    }


def test_mirror_holds_every_artifact_the_lab_hosts_download(tmp_path: Path) -> None:
    spec = lab_spec()
    out = tmp_path / "mirror"
    sums = mirror.build(spec, [fake_toolchain(tmp_path / "tc")], out)
    wanted = {a.key for n in spec.nodes for a in node_artifacts(spec, n)}
    assert set(sums) == wanted
    assert json.loads((out / "checksums.json").read_text()) == sums
    for node in spec.nodes:
        for artifact in node_artifacts(spec, node):
            # The path the install script downloads from, relative to binaries.baseUrl.
            url = artifact.url("http://mirror")
            path = out / url.removeprefix("http://mirror/")
            assert path.is_file(), url
            assert sums[artifact.key] == "sha256:" + mirror.sha256_of(path)
            if artifact.kind == "binary":
                assert path.read_text() == "#!/bin/sh\necho runc/runc\n"
                continue
            with tarfile.open(path) as tar:
                names = set(tar.getnames())
                for member in artifact.members:
                    if member.source.endswith("/*"):
                        assert {"./bridge", "./host-local", "./loopback", "./portmap"} <= names
                        assert "./SHA256SUMS" not in names
                    else:
                        assert member.source in names, (artifact.filename, member.source)
                        data = tar.extractfile(member.source)
                        assert data is not None
                        assert data.read().decode().endswith(f"/{Path(member.source).name}\n")
                assert all(m.uid == 0 and m.mtime == 0 for m in tar.getmembers())


def test_mirror_archives_are_reproducible_and_follow_their_binaries(tmp_path: Path) -> None:
    spec = lab_spec()
    toolchain = fake_toolchain(tmp_path / "tc")
    first = mirror.build(spec, [toolchain], tmp_path / "a")
    again = mirror.build(spec, [toolchain], tmp_path / "b")  # from scratch, elsewhere
    assert first == again
    etcd = toolchain / "etcd" / "v3.6.16" / "linux-amd64" / "etcdctl"
    etcd.write_text("#!/bin/sh\necho changed\n")
    changed = mirror.build(spec, [toolchain], tmp_path / "a")  # incremental: the stamp sees it
    assert changed["etcd/3.6.16/amd64"] != first["etcd/3.6.16/amd64"]
    assert {k: v for k, v in changed.items() if k != "etcd/3.6.16/amd64"} == {
        k: v for k, v in first.items() if k != "etcd/3.6.16/amd64"
    }


def test_mirror_takes_each_artifact_from_the_first_root_that_built_it(tmp_path: Path) -> None:
    toolchain = fake_toolchain(tmp_path / "tc")
    shutil.rmtree(toolchain / "runc")
    extra = tmp_path / "extra" / "runc" / "v1.1.5" / "linux-amd64"
    extra.mkdir(parents=True)
    (extra / "runc").write_text("debian runc\n")
    out = tmp_path / "m"
    mirror.build(lab_spec(), [toolchain, tmp_path / "extra"], out)
    assert (out / "runc" / "1.1.5" / "runc.amd64").read_text() == "debian runc\n"


def test_mirror_build_names_every_missing_binary(tmp_path: Path) -> None:
    toolchain = fake_toolchain(tmp_path / "tc")
    (toolchain / "crictl" / "v1.37.0" / "linux-amd64" / "crictl").unlink()
    shutil.rmtree(toolchain / "etcd")
    with pytest.raises(mirror.MirrorError) as err:
        mirror.build(lab_spec(), [toolchain], tmp_path / "m")
    text = str(err.value)
    assert "crictl 1.37.0 (amd64) is not built" in text
    assert "etcd 3.6.16 (amd64) is not built" in text
    assert not (tmp_path / "m" / "checksums.json").exists()


def test_mirror_refuses_runtimes_the_toolchain_does_not_build(tmp_path: Path) -> None:
    spec, _ = parse({**lab_raw(), "runtime": {"name": "crio"}}, "dev")
    with pytest.raises(mirror.MirrorError, match="cannot serve crio"):
        mirror.build(spec, [fake_toolchain(tmp_path / "tc")], tmp_path / "m")


def test_load_spec_feeds_the_mirror_checksums_to_a_lab_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sums = mirror.build(lab_spec(), [fake_toolchain(tmp_path / "tc")], tmp_path / "m")
    monkeypatch.setenv("K8SFS_LAB_MIRROR_DIR", str(tmp_path / "m"))
    own = {"etcd/3.6.16/amd64": "sha256:" + "a" * 64}
    spec, _ = load_spec({**lab_raw(), "binaries": {"checksums": own}}, "dev")
    assert spec.binaries.base_url == "http://10.231.0.1:8088"
    assert spec.binaries.checksums == {**sums, **own}  # the stack's own pins win
    # our builds are not upstream's: unwired, they have no sums
    assert any(checksum(lab_spec(), key) is None for key in sums)


def test_load_spec_without_a_lab_mirror_is_a_clear_spec_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K8SFS_LAB_MIRROR_DIR", str(tmp_path / "none"))
    with pytest.raises(SpecError) as err:
        load_spec(lab_raw(), "dev")
    assert [p.path for p in err.value.problems] == ["lab"]  # not one per binary as well
    assert "lab.mirror build" in str(err.value)


def test_load_spec_refuses_a_mirror_built_for_other_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror.build(lab_spec(), [fake_toolchain(tmp_path / "tc")], tmp_path / "m")
    monkeypatch.setenv("K8SFS_LAB_MIRROR_DIR", str(tmp_path / "m"))
    raw = {**lab_raw(), "versions": {**VERSIONS, "etcd": "3.6.15"}}
    with pytest.raises(SpecError, match=r"etcd/3\.6\.15/amd64") as err:
        load_spec(raw, "dev")
    assert [(p.path, p.value) for p in err.value.problems] == [("versions.etcd", "3.6.15")]
    assert "not in the lab mirror" in err.value.problems[0].remedy


def test_load_spec_leaves_stacks_without_lab_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8SFS_LAB_MIRROR_DIR", str(tmp_path / "none"))
    spec = config_spec(ONE_NODE)
    assert spec.binaries.base_url is None and spec.binaries.checksums == {}


def test_spec_of_stack_file_reads_the_lab_stack(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(
        "config:\n  k8s-from-scratch:lab:\n    enabled: true\n    workers: 1\n  other:key: 1\n"
        "  k8s-from-scratch:versions:\n    etcd: 3.6.16\n"
    )
    spec = mirror.spec_of_stack_file(path)
    assert [n.name for n in spec.nodes] == ["lab-cp-1", "lab-worker-1"]
    assert spec.versions.etcd == "3.6.16"


# --------------------------------------------------------------------------- Lab component


def run_lab(spec: ClusterSpec) -> tuple[Graph, dict[str, Any]]:
    seen: dict[str, Any] = {}

    def program() -> None:
        lab = Lab("lab", spec)
        seen["lab"] = lab
        if lab.private_key is not None:
            lab.private_key.apply(lambda k: seen.__setitem__("private_key", k))
            # A consumer of the key: the recorder sees whether it arrives marked secret.
            local.Command("consumer", create="true", stdin=lab.private_key)

    return run_function(program), seen


def test_lab_component_makes_key_network_mirror_and_one_command_per_host() -> None:
    spec = lab_spec()
    graph, seen = run_lab(spec)
    lab = graph.named("lab")
    assert lab.type == "k8s-from-scratch:index:Lab"
    children = {r.name: r for r in graph.children(lab)}
    assert set(children) == {
        "lab-ssh-key",
        "lab-network",
        "lab-mirror",
        "lab-host-lab-cp-1",
        "lab-host-lab-worker-1",
        "lab-host-lab-worker-2",
    }
    key = children["lab-ssh-key"]
    assert key.type == "tls:index/privateKey:PrivateKey"
    assert key.inputs["algorithm"] == "ED25519"
    public = key.outputs["publicKeyOpenssh"].strip()
    assert public.startswith("ssh-ed25519 ")

    network, mirror_cmd = children["lab-network"], children["lab-mirror"]
    assert network.inputs["create"] == "lab/lab.sh network-up"
    assert network.inputs["delete"] == "lab/lab.sh network-down"
    assert mirror_cmd.inputs["create"] == f"lab/lab.sh mirror-start {mirror.mirror_dir(spec)}"
    assert mirror_cmd.inputs["delete"] == "lab/lab.sh mirror-stop"
    assert network.urn in mirror_cmd.dependencies

    for node in spec.nodes:
        host = children[f"lab-host-{node.name}"]
        assert host.type == "command:local:Command"
        assert host.inputs["create"] == f"lab/lab.sh create {node.name} {node.address} '{public}'"
        assert host.inputs["delete"] == f"lab/lab.sh destroy {node.name}"
        assert host.inputs["dir"] == str(REPO)
        assert host.inputs["environment"] == lab_environment(spec)
        assert host.inputs["addPreviousOutputInEnv"] is False
        assert network.urn in host.dependencies
        assert host.delete_before_replace
    assert [n.address for n in spec.nodes] == ["10.231.0.11", "10.231.0.12", "10.231.0.13"]

    lab_obj = seen["lab"]
    assert lab_obj.mirror_url == "http://10.231.0.1:8088"
    assert len(lab_obj.hosts_ready) == 4  # three hosts and the mirror
    assert seen["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "stdin" in graph.named("consumer").secret_paths
    assert lab.outputs["mirrorUrl"] == "http://10.231.0.1:8088"


def test_lab_component_never_puts_the_private_key_in_a_command() -> None:
    graph, seen = run_lab(lab_spec())
    key_body = seen["private_key"].splitlines()[1]
    for reg in graph.of_type("command:local:Command"):
        if reg.name != "consumer":
            assert key_body not in json.dumps(reg.inputs)


def test_lab_component_follows_the_stack_subnet_work_dir_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K8SFS_LAB_MIRROR_DIR", raising=False)  # the work dir decides here
    spec = lab_spec(subnet="10.77.5.0/24", workDir="/srv/lab", controlPlanes=3, workers=1, etcd=3)
    graph, seen = run_lab(spec)
    hosts = [r for r in graph.of_type("command:local:Command") if r.name.startswith("lab-host-")]
    assert len(hosts) == 7
    creates = {r.name: r.inputs["create"] for r in hosts}
    assert creates["lab-host-lab-etcd-1"].startswith("lab/lab.sh create lab-etcd-1 10.77.5.11 ")
    assert creates["lab-host-lab-worker-1"].startswith("lab/lab.sh create lab-worker-1 10.77.5.17 ")
    assert graph.named("lab-mirror").inputs["create"] == "lab/lab.sh mirror-start /srv/lab/mirror"
    assert all(r.inputs["environment"]["K8SFS_LAB_GATEWAY"] == "10.77.5.1/24" for r in hosts)
    assert seen["lab"].mirror_url == "http://10.77.5.1:8088"


def test_lab_component_without_lab_makes_nothing() -> None:
    spec = config_spec(ONE_NODE)
    graph, seen = run_lab(spec)
    assert graph.children(graph.named("lab")) == []
    assert graph.of_type("command:local:Command") == []
    assert seen["lab"].private_key is None and seen["lab"].hosts_ready == []


@pytest.mark.parametrize(
    "script", ["toolchain/build.sh", "toolchain/images.sh", "lab/after-up.sh", "lab/install-deps.sh"]
)
def test_the_toolchain_and_lab_scripts_pass_shellcheck(script: str) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    result = subprocess.run(
        ["shellcheck", "-x", str(REPO / script)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stdout
