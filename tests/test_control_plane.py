"""Control plane: golden flags for two presets, no removed flag or API version at any supported
minor, configs, `systemd-analyze verify` on every rendered unit, and the component's graph."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mockrun.program import run_function
from render import control_plane as cp
from render import etcd
from spec import defaults as d
from spec.model import ClusterSpec
from tests.support import golden
from tests.support.specs import PRESETS, preset_spec
from tests.support.tools import shellcheck

GOLDEN = golden.GOLDEN / "control_plane"
GOLDEN_PRESETS = ("s4-oraclelinux7-everything-systemd", "ha-calico")


def _at_minor(spec: ClusterSpec, minor: tuple[int, int]) -> ClusterSpec:
    version = f"{minor[0]}.{minor[1]}.0"
    return dataclasses.replace(spec, versions=dataclasses.replace(spec.versions, kubernetes=version))


def _rendered(spec: ClusterSpec) -> dict[str, str]:
    node = spec.control_plane_nodes[0]
    return {
        cp.APISERVER: cp.flag_lines(cp.apiserver_flags(spec, node)),
        cp.KCM: cp.flag_lines(cp.controller_manager_flags(spec)),
        cp.SCHEDULER: cp.flag_lines(cp.scheduler_flags(spec)),
    }


@pytest.mark.parametrize("stack", GOLDEN_PRESETS)
def test_control_plane_flags_match_golden_files(stack: str) -> None:
    rendered = _rendered(preset_spec(stack))
    for component, text in rendered.items():
        golden.assert_golden(GOLDEN / stack / f"{component}.flags", text)


def test_golden_files_hold_what_the_seeds_need() -> None:
    s4 = (GOLDEN / GOLDEN_PRESETS[0] / "kube-apiserver.flags").read_text()
    assert "--service-cluster-ip-range=10.0.0.0/16\n" in s4
    assert "--anonymous-auth=false\n" in s4 and "--authorization-mode=Node,RBAC\n" in s4
    assert "--audit-log-maxage=30\n" in s4 and "--audit-log-maxbackup=3\n" in s4
    assert "--service-account-issuer=https://kubernetes.default.svc.cluster.local\n" in s4
    ha = (GOLDEN / GOLDEN_PRESETS[1] / "kube-apiserver.flags").read_text()
    assert "--etcd-servers=https://10.20.0.11:2379,https://10.20.0.12:2379,https://10.20.0.13:2379\n" in ha
    assert "--advertise-address=10.20.0.11\n" in ha
    kcm = (GOLDEN / GOLDEN_PRESETS[0] / "kube-controller-manager.flags").read_text()
    assert "--cluster-cidr=10.244.0.0/16\n" in kcm and "--allocate-node-cidrs=true\n" in kcm


def _everything(spec: ClusterSpec) -> dict[str, str]:
    """Every control-plane text the program renders for a spec: units and config files."""
    out: dict[str, str] = {}
    for node in spec.control_plane_nodes:
        for name, text in cp.unit_texts(spec, node).items():
            out[f"{node.name}/{name}"] = text
    out["scheduler-config"] = cp.scheduler_config(spec)
    out["encryption"] = cp.encryption_config(spec, "a2V5")
    out["audit"] = cp.audit_policy()
    return out


@pytest.mark.parametrize("minor", d.SUPPORTED_KUBERNETES_MINORS, ids=lambda m: f"{m[0]}.{m[1]}")
@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_no_removed_flag_or_api_version_is_rendered(path: Path, minor: tuple[int, int]) -> None:
    spec = _at_minor(preset_spec(path), minor)
    for key, text in _everything(spec).items():
        component = key.split("/")[-1] if "/" in key else ""
        assert cp.forbidden_in(component, text) == [], key
        assert cp.forbidden_in(cp.APISERVER, text) == [] or component != cp.APISERVER


def test_the_forbidden_check_does_catch_removed_things() -> None:
    spec = preset_spec("ha-calico")
    unit = cp.unit_texts(spec, spec.nodes[0])[cp.KCM]
    assert cp.forbidden_in(cp.KCM, unit + "  --port=10252 \\\n") == ["--port"]
    assert cp.forbidden_in(cp.KCM, unit) == []  # --secure-port is not --port
    api = cp.unit_texts(spec, spec.nodes[0])[cp.APISERVER]
    broken = api.replace("--encryption-provider-config", "--experimental-encryption-provider-config")
    assert "--experimental-encryption-provider-config" in cp.forbidden_in(cp.APISERVER, broken)
    assert cp.forbidden_in("", "apiVersion: audit.k8s.io/v1beta1") == ["audit.k8s.io/v1beta1"]
    assert cp.forbidden_in("kubelet", "kubelet --allow-privileged=true") == ["--allow-privileged"]
    assert cp.forbidden_in(cp.APISERVER, api) == []  # the apiserver's --allow-privileged is current


def test_unsupported_minor_is_refused() -> None:
    spec = _at_minor(preset_spec("ha-calico"), (1, 33))
    with pytest.raises(ValueError, match="no control-plane flags"):
        cp.apiserver_flags(spec, spec.nodes[0])


def test_encryption_config_by_provider() -> None:
    spec = preset_spec("ha-calico")
    doc = yaml.safe_load(cp.encryption_config(spec, "S0VZ"))
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1"
    providers = doc["resources"][0]["providers"]
    assert providers == [{"secretbox": {"keys": [{"name": "key1", "secret": "S0VZ"}]}}, {"identity": {}}]
    s4 = yaml.safe_load(cp.encryption_config(preset_spec(GOLDEN_PRESETS[0]), "S0VZ"))
    assert list(s4["resources"][0]["providers"][0]) == ["aescbc"]
    none = dataclasses.replace(spec, security=dataclasses.replace(spec.security, encryption_at_rest="none"))
    assert yaml.safe_load(cp.encryption_config(none, "S0VZ"))["resources"][0]["providers"] == [
        {"identity": {}}
    ]


def test_audit_policy_and_scheduler_config() -> None:
    policy = yaml.safe_load(cp.audit_policy())
    assert policy["apiVersion"] == "audit.k8s.io/v1" and policy["rules"]
    levels = {r["level"] for r in policy["rules"]}
    assert levels == {"None", "Metadata", "RequestResponse"}
    secrets_rule = next(r for r in policy["rules"] if "secrets" in str(r.get("resources")))
    assert secrets_rule["level"] == "Metadata"  # never the content of a Secret
    sched = yaml.safe_load(cp.scheduler_config(preset_spec("ha-calico")))
    assert sched["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    # The scheduler's own copy of scheduler.conf, made at every start.
    assert sched["clientConnection"]["kubeconfig"] == "/run/kube-scheduler/scheduler.conf"
    assert sched["enableProfiling"] is False


def _service_entries(unit: str, key: str) -> list[list[str]]:
    """The words of each `key=` line of a unit, continuation lines joined."""
    joined = unit.replace("\\\n", " ")
    return [line.split("=", 1)[1].split() for line in joined.splitlines() if line.startswith(f"{key}=")]


@pytest.mark.parametrize("stack", GOLDEN_PRESETS)
def test_each_service_gets_only_its_own_secrets_copied_at_every_start(stack: str) -> None:
    """Keys, kubeconfigs and the encryption config reach each service only as the copies a root
    step makes before it starts, in its runtime directory: its flags name those, never the
    root-owned files, and every copy made is used."""
    from render import systemd

    spec = preset_spec(stack)
    units = cp.unit_texts(spec, spec.control_plane_nodes[0])
    every_secret = {path for paths in cp.SECRETS.values() for path in paths}
    for service, text in units.items():
        user = cp.SERVICE_USERS[service]
        assert _service_entries(text, "User") == [[user]] and _service_entries(text, "Group") == [[user]]
        assert _service_entries(text, "PermissionsStartOnly") == [["true"]], service
        assert _service_entries(text, "RuntimeDirectory") == [[service]], service
        assert _service_entries(text, "RuntimeDirectoryMode") == [["0700"]], service
        assert cp.secrets_dir(service) == f"/run/{service}"
        (pre,) = _service_entries(text, "ExecStartPre")
        owner, directory = f"{user}:{user}", cp.secrets_dir(service)
        assert pre == [systemd.SECRETS_HELPER, owner, directory, *cp.SECRETS[service]], service
        flags = [w.strip(' "\\') for w in text.split() if w.startswith("--")]
        named = {f.split("=", 1)[1] for f in flags if f.split("=", 1)[1].startswith("/run/")}
        assert named == {cp.secret_copy(service, p) for p in cp.SECRETS[service]}, service
        assert not [f for f in flags if f.split("=", 1)[-1] in every_secret], service
        assert "%d" not in text and "LoadCredential" not in text  # nothing newer than systemd 219
    assert set(cp.SECRETS[cp.SCHEDULER]) == {cp.SCHEDULER_KUBECONFIG}
    assert [s for s, paths in cp.SECRETS.items() if cp.CA_KEY in paths] == [cp.KCM]  # it signs
    assert cp.CA_KEY not in cp.SECRETS[cp.APISERVER]
    assert set(cp.SECRETS[cp.KCM]).isdisjoint(
        {cp.APISERVER_KEY, cp.KUBELET_CLIENT_KEY, cp.ETCD_CLIENT_KEY, cp.FRONT_PROXY_CLIENT_KEY}
    )
    with pytest.raises(ValueError, match="not given"):
        cp.secret_copy(cp.SCHEDULER, cp.CA_KEY)


def test_audit_off_and_tls13() -> None:
    spec = preset_spec("ha-calico")
    sec = dataclasses.replace(
        spec.security,
        audit=dataclasses.replace(spec.security.audit, enabled=False),
        tls_min_version="VersionTLS13",
    )
    flags = dict(cp.apiserver_flags(dataclasses.replace(spec, security=sec), spec.nodes[0]))
    assert not any(k.startswith("audit-") for k in flags)
    assert flags["tls-min-version"] == "VersionTLS13" and "tls-cipher-suites" not in flags


def test_a_unit_names_only_copies_it_makes_and_escapes_every_specifier() -> None:
    from render import systemd

    argv = ("/bin/x", "/run/x/k", "--key=/run/x/k", "--rate=50%", "--v=$HOME")
    unit = systemd.Unit("x.service", "x", argv, user="x", secrets=("/etc/x/k",))
    text = systemd.render_unit(unit)
    assert "PermissionsStartOnly=true\nRuntimeDirectory=x\nRuntimeDirectoryMode=0700\n" in text
    assert f"ExecStartPre={systemd.SECRETS_HELPER} x:x /run/x /etc/x/k\n" in text
    assert 'ExecStart=/bin/x /run/x/k --key=/run/x/k "--rate=50%%" "--v=$$HOME"\n' in text
    assert text.index("ExecStartPre=") < text.index("ExecStart=")
    plain = systemd.render_unit(systemd.Unit("y.service", "y", ("/bin/y",), user="y"))
    assert "PermissionsStartOnly" not in plain and "ExecStartPre" not in plain  # only with secrets
    with pytest.raises(ValueError, match="a copy it does not make"):
        systemd.Unit("x.service", "x", ("/bin/x", "--key=/run/x/other"), user="x", secrets=("/etc/x/k",))
    with pytest.raises(ValueError, match="root's alone"):
        systemd.Unit("x.service", "x", ("/bin/x", "--key=/etc/x/k"), user="x", secrets=("/etc/x/k",))
    with pytest.raises(ValueError, match="repeat"):
        systemd.Unit("x.service", "x", ("/bin/x",), user="x", secrets=("/a/k", "/b/k"))
    with pytest.raises(ValueError, match="bad secret"):
        systemd.Unit("x.service", "x", ("/bin/x",), user="x", secrets=("k",))
    with pytest.raises(ValueError, match="has none"):
        systemd.Unit("x.service", "x", ("/bin/x",), secrets=("/etc/x/k",))


def test_health_checks_authenticate() -> None:
    check = cp.apiserver_health_check(preset_spec("ha-calico"))
    assert "/livez" in check and "/readyz" in check and "--cert /etc/kubernetes/pki/" in check


# --- systemd-analyze verify on every rendered unit -------------------------------------------


def _verify_root(tmp_path: Path, units: dict[str, str]) -> Path:
    """A root with systemd's own units, stub executables for every Exec*= line, and our units."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name, text in units.items():
        (root / "etc/systemd/system" / name).write_text(text)
        binaries = re.findall(r"^Exec\w+=(\S+)", text, re.M)
        assert binaries
        for binary in binaries:
            stub = root / binary.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    return root


def _verify(root: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *(f"/etc/systemd/system/{n}" for n in names)],
        capture_output=True,
        text=True,
    )


@pytest.mark.realtool
@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_systemd_analyze_verify_passes_on_every_rendered_unit(path: Path, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None or not Path("/usr/lib/systemd/system").is_dir():
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    spec = preset_spec(path)
    units: dict[str, str] = {}
    for node in spec.nodes:  # one node per role mix is enough; names collide across nodes
        node_units = {}
        if node.is_etcd:
            node_units[etcd.UNIT] = etcd.unit_text(spec, node)
        if node.is_control_plane:
            node_units.update({f"{k}.service": v for k, v in cp.unit_texts(spec, node).items()})
        if set(node_units) - set(units):
            units.update(node_units)
            root = _verify_root(tmp_path / node.name, node_units)
            result = _verify(root, sorted(node_units))
            assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert units
    # What copies the secrets was among what systemd-analyze accepted, without a word: the
    # deprecated PermissionsStartOnly= too (systemd parses it as a plain boolean, render/systemd.py).
    kcm = units["kube-controller-manager.service"]
    assert "PermissionsStartOnly=true\n" in kcm and "RuntimeDirectory=kube-controller-manager\n" in kcm
    assert "ExecStartPre=/usr/local/sbin/k8s-from-scratch-copy-secrets" in kcm
    assert "--cluster-signing-key-file=/run/kube-controller-manager/ca.key" in kcm


@pytest.mark.realtool
def test_systemd_analyze_verify_rejects_a_broken_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None or not Path("/usr/lib/systemd/system").is_dir():
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    spec = preset_spec("ha-calico")
    text = cp.unit_texts(spec, spec.nodes[0])[cp.SCHEDULER].replace("Type=simple", "Type=bogus")
    root = _verify_root(tmp_path, {"kube-scheduler.service": text})
    result = _verify(root, ["kube-scheduler.service"])
    assert result.returncode != 0 or result.stderr.strip()


# --- the component under the mocks -----------------------------------------------------------


ENCRYPTION_KEYS: list[str] = []  # what the Pki under the mocks made, newest last


def _build(spec: ClusterSpec) -> None:
    from components.control_plane import ControlPlane
    from components.pki import Pki
    from tests.support.wiring import build_members

    pki = Pki("pki", spec)
    pki.encryption_key.apply(ENCRYPTION_KEYS.append)
    members = build_members(spec, pki)
    from components.host import Host, NodeSite, connection

    previous: list = []
    for node in spec.control_plane_nodes:
        host = Host(f"cphost-{node.name}", spec, node, connection(node))
        plane = ControlPlane(
            f"cp-{node.name}",
            NodeSite(spec, node, host),
            pki,
            etcd_ready=[m.ready for m in members],
            restart_after=previous,
        )
        previous = [plane.apiserver]


def test_control_plane_graph() -> None:
    from render import systemd

    spec = preset_spec("ha-calico")
    graph = run_function(lambda: _build(spec))
    planes = graph.of_type("k8s-from-scratch:index:ControlPlane")
    assert [p.name for p in planes] == ["cp-cp1", "cp-cp2", "cp-cp3"]
    kids = {r.name: r for r in graph.children(graph.named("cp-cp1"))}
    assert set(kids) == {
        "cp-cp1-user",
        "cp-cp1-files",
        "cp-cp1-apiserver",
        "cp-cp1-controller-manager",
        "cp-cp1-scheduler",
    }
    files = kids["cp-cp1-files"]
    assert "stdin" in files.secret_paths
    listing = files.inputs["create"]
    # Every file is root's (CIS 1.1.15-1.1.21); secrets 0600, each service reads its own copies.
    metas = dict(re.findall(r"^# (\S+) (\d{4} \S+:\S+) sha256:", listing, flags=re.M))
    secrets = {path for paths in cp.SECRETS.values() for path in paths}
    assert secrets == {
        cp.ENCRYPTION_CONFIG,
        cp.APISERVER_KEY,
        cp.KUBELET_CLIENT_KEY,
        cp.ETCD_CLIENT_KEY,
        cp.FRONT_PROXY_CLIENT_KEY,
        cp.SA_KEY,
        cp.CA_KEY,
        cp.KCM_KUBECONFIG,
        cp.SCHEDULER_KUBECONFIG,
    }
    for path in secrets:
        assert metas[path] == "0600 root:root", path
    assert {metas[p] for p in set(metas) - secrets} == {"0600 root:root", "0644 root:root", "0755 root:root"}
    assert [p for p, m in metas.items() if m == "0755 root:root"] == [systemd.SECRETS_HELPER]  # copies them
    assert metas[cp.CA_CRT] == metas[cp.AUDIT_POLICY] == "0644 root:root"
    assert all(metas[f"/etc/systemd/system/{s}.service"] == "0600 root:root" for s in cp.SECRETS)
    assert cp.LEGACY_KCM_SA_KEY not in metas  # one sa.key, handed to both services that read it
    (key,) = ENCRYPTION_KEYS[-1:]
    assert all(key not in str(r.inputs.get("create", "")) for r in graph.registrations)
    assert "stdin" in files.inputs and key not in files.inputs["stdin"]  # base64-wrapped in the bundle
    etcd_health = [r.urn for r in graph.registrations if r.name.endswith("-health")]
    api = kids["cp-cp1-apiserver"]
    assert set(etcd_health) <= set(api.dependencies)
    assert api.urn in kids["cp-cp1-controller-manager"].dependencies
    assert api.urn in kids["cp-cp1-scheduler"].dependencies
    cp2_api = graph.named("cp-cp2-apiserver")
    assert api.urn in cp2_api.dependencies  # API servers restart one node at a time
    assert "/readyz" in api.inputs["create"] and "kube-apiserver.service" in api.inputs["delete"]


@pytest.mark.realtool
@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_etcd_and_control_plane_scripts_pass_shellcheck(path: Path, tmp_path: Path) -> None:
    from render import systemd

    spec = preset_spec(path)
    scripts = {
        "etcd-user": etcd.user_script(),
        "etcd-user-remove": etcd.remove_user_script(),
        "etcd-service": systemd.service_script(
            etcd.UNIT, "0" * 64, check=etcd.health_check(), wait_after_start=False, no_block_start=True
        ),
        "etcd-health": systemd.wait_script("etcd member", etcd.health_check(), unit=etcd.UNIT),
        "etcd-stop": systemd.stop_script(etcd.UNIT),
        "cp-user": cp.user_script(),
        "cp-user-remove": cp.remove_user_script(),
        "apiserver": systemd.service_script(
            "kube-apiserver.service", "0" * 64, cp.apiserver_health_check(spec)
        ),
        "kcm": systemd.service_script(
            "kube-controller-manager.service", "0" * 64, cp.local_health_check(10257)
        ),
        "scheduler-stop": systemd.stop_script("kube-scheduler.service"),
        "copy-secrets": systemd.secrets_helper_script(),
    }
    result = shellcheck(tmp_path, scripts)
    assert result.returncode == 0, result.stdout[:5000]


@pytest.mark.realtool
def test_the_copy_helper_gives_the_user_its_copies_alone_and_runs_again_alike(tmp_path: Path) -> None:
    """The helper as a unit runs it (root, before the service): 0400 copies of the user's in a
    0700 directory of the user's, the same after a second run; it writes through no link left in
    a copy's place, and copies into no linked directory nor outside /run."""
    import grp
    import os
    import pwd
    import uuid

    from render import systemd

    if os.geteuid() != 0:
        pytest.skip("the helper gives files away (install -o): run as root, as CI does")
    helper = tmp_path / "copy-secrets"
    helper.write_text(systemd.secrets_helper_script())
    helper.chmod(0o755)
    text = helper.read_text()
    assert text.index("umask 077") < text.index("install ")  # nothing is ever another's to read
    user = pwd.getpwnam("daemon")
    owner = f"daemon:{grp.getgrgid(user.pw_gid).gr_name}"
    sources = [tmp_path / "a.key", tmp_path / "b.conf"]
    for src in sources:
        src.write_text(f"secret {src.name}\n")
        src.chmod(0o600)
    run_dir = Path(f"/run/k8sfs-test-{uuid.uuid4().hex[:8]}")
    link_dir = Path(f"{run_dir}-link")

    def copy(directory: Path, *files: Path) -> subprocess.CompletedProcess[str]:
        argv = [str(helper), owner, str(directory), *map(str, files)]
        return subprocess.run(argv, capture_output=True, text=True)

    def assert_copies() -> None:
        st = run_dir.lstat()
        assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o7777)) == (user.pw_uid, user.pw_gid, "0o700")
        assert sorted(p.name for p in run_dir.iterdir()) == ["a.key", "b.conf"]
        for src in sources:
            st = (run_dir / src.name).lstat()
            assert (st.st_uid, oct(st.st_mode & 0o7777)) == (user.pw_uid, "0o400"), src.name
            assert (run_dir / src.name).read_text() == src.read_text()

    try:
        run_dir.mkdir(mode=0o755)  # as systemd makes it; the helper makes sure of owner and mode
        for _ in range(2):
            result = copy(run_dir, *sources)
            assert result.returncode == 0, result.stderr
            assert_copies()
        victim = tmp_path / "victim"
        victim.write_text("untouched\n")
        (run_dir / "a.key").unlink()
        (run_dir / "a.key").symlink_to(victim)
        assert copy(run_dir, *sources).returncode == 0
        assert victim.read_text() == "untouched\n"
        assert_copies()
        link_dir.symlink_to(run_dir)
        refused = copy(link_dir, *sources)
        assert refused.returncode != 0 and "symbolic link" in refused.stderr
        outside = copy(tmp_path / "elsewhere", *sources)
        assert outside.returncode != 0 and "right under /run" in outside.stderr
        missing = copy(run_dir, tmp_path / "nope.key")
        assert missing.returncode != 0 and "missing" in missing.stderr
        usage = copy(run_dir)
        assert usage.returncode == 2 and "usage" in usage.stderr
    finally:
        link_dir.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_pod_security_is_baseline_by_default_with_kube_system_exempt() -> None:
    """kube-apiserver reads the PodSecurity defaults from its admission config file."""
    spec = preset_spec("ha-calico")
    flags = dict(cp.apiserver_flags(spec, spec.control_plane_nodes[0]))
    assert flags["admission-control-config-file"] == cp.ADMISSION_CONFIG
    doc = yaml.safe_load(cp.admission_config())
    assert doc["kind"] == "AdmissionConfiguration"
    (plugin,) = doc["plugins"]
    config = plugin["configuration"]
    assert plugin["name"] == "PodSecurity" and config["kind"] == "PodSecurityConfiguration"
    assert config["defaults"]["enforce"] == "baseline" and config["defaults"]["enforce-version"] == "latest"
    assert config["defaults"]["warn"] == config["defaults"]["audit"] == "restricted"
    assert config["exemptions"]["namespaces"] == ["kube-system"]
