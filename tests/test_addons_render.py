"""render.addons: CoreDNS, the Kata RuntimeClass and the smoke test as plain objects.

Golden files (tests/golden/addons/) hold the full objects for one non-default spec; regenerate
with UPDATE_GOLDEN=1 after a deliberate change and review the diff.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import addons
from spec import ClusterSpec
from tests.support import golden
from tests.support.objects import find
from tests.support.specs import MIRROR, ONE_NODE, THREE_NODES, addons_golden_spec, cni_spec

GOLDEN = golden.GOLDEN / "addons"


class BlockDumper(yaml.SafeDumper):
    """Multi-line strings (Corefile, scripts) as readable `|` blocks in the golden files."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


BlockDumper.add_representer(str, _str)


@pytest.mark.parametrize(
    ("file", "render"),
    [
        ("coredns.yaml", addons.coredns_objects),
        ("runtimeclass.yaml", addons.runtime_class_objects),
        ("smoke.yaml", addons.smoke_objects),
    ],
)
def test_golden(file: str, render: Any) -> None:
    text = yaml.dump_all(render(addons_golden_spec()), Dumper=BlockDumper, sort_keys=True)
    golden.assert_golden(GOLDEN / file, text)


def test_coredns_serves_the_stacks_domain_on_dns_service_ip() -> None:
    spec = addons_golden_spec()
    objs = addons.coredns_objects(spec)
    service = find(objs, "Service", "kube-dns")
    assert service["spec"]["clusterIP"] == "10.100.0.10" == spec.network.dns_service_ip
    corefile = find(objs, "ConfigMap", "coredns")["data"]["Corefile"]
    assert "kubernetes corp.example in-addr.arpa ip6.arpa {" in corefile
    assert "disable success corp.example" in corefile
    assert "cluster.local" not in corefile
    assert "$" not in corefile  # every placeholder substituted


def test_coredns_default_domain_and_image() -> None:
    objs = addons.coredns_objects(cni_spec({"name": "flannel"}))
    assert "kubernetes cluster.local in-addr.arpa" in find(objs, "ConfigMap", "coredns")["data"]["Corefile"]
    deployment = find(objs, "Deployment", "coredns")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.k8s.io/coredns/coredns:v1.13.1"
    assert find(objs, "Service", "kube-dns")["spec"]["clusterIP"] == "10.96.0.10"


def test_coredns_follows_the_version_pin_and_mirror() -> None:
    spec = cni_spec({"name": "flannel"}, versions={"coredns": "1.12.4"}, images={"registry": MIRROR})
    assert addons.coredns_image(spec) == f"{MIRROR}/coredns/coredns:v1.12.4"


def test_coredns_is_highly_available() -> None:
    objs = addons.coredns_objects(cni_spec({"name": "flannel"}))
    deployment = find(objs, "Deployment", "coredns")["spec"]
    assert deployment["replicas"] == 2
    anti = deployment["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    pdb = find(objs, "PodDisruptionBudget", "coredns")
    assert pdb["spec"]["selector"] == deployment["selector"]
    assert pdb["spec"]["maxUnavailable"] == 1
    role = find(objs, "ClusterRole", "system:coredns")
    binding = find(objs, "ClusterRoleBinding", "system:coredns")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]
    assert deployment["template"]["spec"]["serviceAccountName"] == "coredns"


def test_runtime_class_only_with_kata() -> None:
    assert addons.runtime_class_objects(cni_spec({"name": "flannel"})) == []
    (rc,) = addons.runtime_class_objects(cni_spec({"name": "flannel"}, runtime={"kata": True}))
    assert rc["apiVersion"] == "node.k8s.io/v1"
    assert (rc["metadata"]["name"], rc["handler"]) == ("kata", "kata")
    assert rc["overhead"]["podFixed"] == {"cpu": "250m", "memory": "160Mi"}


def test_smoke_test_is_opt_in() -> None:
    assert addons.smoke_objects(cni_spec({"name": "flannel"})) == []


def smoke_job(spec: ClusterSpec) -> dict[str, Any]:
    return find(addons.smoke_objects(spec), "Job", "smoke-check")


def job_env(job: dict[str, Any]) -> dict[str, str]:
    (c,) = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in c["env"]}


def test_smoke_check_runs_on_another_node_than_the_server() -> None:
    job = smoke_job(cni_spec({"name": "flannel"}, addons={"smokeTest": True}))
    anti = job["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "smoke-server"}
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert job_env(job)["WHERE"] == "on another node"


def test_smoke_check_on_a_single_worker_prefers_another_node() -> None:
    job = smoke_job(cni_spec({"name": "flannel"}, nodes=ONE_NODE, addons={"smokeTest": True}))
    anti = job["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"]


def test_smoke_check_expects_the_stacks_addresses() -> None:
    env = job_env(smoke_job(addons_golden_spec()))
    assert env["DOMAIN"] == "corp.example"
    assert env["API_IP"] == "10.100.0.1"
    assert env["DNS_IP"] == "10.100.0.10"
    assert env["RECORD"] == "A"


def test_smoke_pods_meet_restricted_pod_security() -> None:
    objs = addons.smoke_objects(addons_golden_spec())
    ns = find(objs, "Namespace", "k8s-from-scratch-smoke")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objs:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            assert c["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
            assert c["image"] == f"{MIRROR}/e2e-test-images/agnhost:2.52"


def test_all_objects() -> None:
    kinds = [o["kind"] for o in addons.all_objects(addons_golden_spec())]
    assert kinds.count("RuntimeClass") == 1 and kinds.count("Job") == 1 and "PodDisruptionBudget" in kinds
    no_dns = cni_spec({"name": "flannel"}, addons={"coredns": False})
    assert addons.all_objects(no_dns) == []


# --- the smoke script, run against stand-in tools ---------------------------------------------


def run_check(tmp_path: Path, api: str, pod: str, curl_rc: int, nameserver: str = "10.100.0.10") -> Any:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dig").write_text(
        '#!/bin/sh\ncase "$*" in\n  *kubernetes.default.svc.corp.example.*) echo "$FAKE_API" ;;\n'
        "  *smoke-server.k8s-from-scratch-smoke.svc.corp.example.*)\n"
        '    [ -n "$FAKE_POD" ] && echo "$FAKE_POD" ;;\n'
        "esac\nexit 0\n"
    )
    (bin_dir / "curl").write_text(f'#!/bin/sh\necho "$*" >> "{tmp_path}/curl.log"\nexit {curl_rc}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"search default.svc.corp.example\nnameserver {nameserver}\noptions ndots:5\n")
    env = {
        **job_env(smoke_job(addons_golden_spec())),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_API": api,
        "FAKE_POD": pod,
        "RESOLV_CONF": str(resolv),
        "ATTEMPTS": "2",
        "DELAY": "0",
    }
    return subprocess.run(
        ["sh", "-c", addons.smoke_script(), "smoke-check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_smoke_script_passes_on_a_working_cluster(tmp_path: Path) -> None:
    result = run_check(tmp_path, "10.100.0.1", "10.42.3.7", 0)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == 3
    assert "-o /dev/null http://10.42.3.7:8080/hostname" in (tmp_path / "curl.log").read_text()


@pytest.mark.parametrize(
    ("api", "pod", "curl_rc", "nameserver", "reason"),
    [
        ("10.100.0.2", "10.42.3.7", 0, "10.100.0.10", "resolved to '10.100.0.2', want 10.100.0.1"),
        ("10.100.0.1", "10.42.3.7", 0, "10.96.0.10", "FAIL: pod resolver is the cluster DNS Service"),
        ("10.100.0.1", "", 0, "10.100.0.10", "no pod behind smoke-server"),
        ("10.100.0.1", "10.42.3.7", 7, "10.100.0.10", "FAIL: pod smoke-server on another node answers"),
    ],
)
def test_smoke_script_fails_with_the_reason(
    tmp_path: Path, api: str, pod: str, curl_rc: int, nameserver: str, reason: str
) -> None:
    result = run_check(tmp_path, api, pod, curl_rc, nameserver)
    assert result.returncode != 0
    assert reason in result.stderr


@pytest.mark.realtool
def test_smoke_script_passes_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    script = tmp_path / "check.sh"
    script.write_text(addons.smoke_script())
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_three_node_fixture_has_two_workers() -> None:
    assert sum("worker" in n["roles"] for n in THREE_NODES) == 2  # what the cross-node tests rely on
