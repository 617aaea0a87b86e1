"""lab/kube_bench.py's pure parts (parsing kube-bench's output, the command it runs) and the bench's
reading of the lab's SSH key; running it on lab hosts is the e2e tier's (tests/test_lab_e2e.py)."""

from __future__ import annotations

import json

import pytest

from bench.lab_timings import SECRET_SIG, ssh_key
from lab import kube_bench
from render import kube_bench as checks

OUTPUT = """[INFO] 1 Control Plane Security Configuration
[INFO] 1.1 Control Plane Node Configuration Files
[PASS] 1.1.1 Ensure that the API server pod specification file permissions are set to 600 (Automated)
[FAIL] 1.1.12 Ensure that the etcd data directory ownership is set to etcd:etcd (Automated)
[WARN] 1.1.9 Ensure that the Container Network Interface file permissions are set to 600 (Manual)
[FAIL] 1.2.5 Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)

== Remediations master ==
1.1.12 On the etcd server node, get the etcd data directory, passed as an argument --data-dir,
from the command 'ps -ef | grep etcd'.

== Summary master ==
80 checks PASS
2 checks FAIL
40 checks WARN
0 checks INFO

[INFO] 4 Worker Node Security Configuration
[FAIL] 4.2.6 Ensure that the --protect-kernel-defaults argument is set to true (Automated)
[WARN] 4.2.8 Ensure that the eventRecordQPS argument is set appropriately (Manual)

== Summary node ==
21 checks PASS
1 checks FAIL
3 checks WARN
0 checks INFO

== Summary total ==
101 checks PASS
3 checks FAIL
43 checks WARN
2 checks INFO

"""


def test_the_total_summary_and_its_counts() -> None:
    result = kube_bench.parse_output(OUTPUT)
    assert result.summary.startswith("== Summary total ==")
    assert result.summary.endswith("2 checks INFO")
    assert result.counts == {"PASS": 101, "FAIL": 3, "WARN": 43, "INFO": 2}


def test_the_failed_check_ids_and_not_the_warnings() -> None:
    result = kube_bench.parse_output(OUTPUT)
    assert result.fails == {"1.1.12", "1.2.5", "4.2.6"}
    assert result.score() == {
        "PASS": 101,
        "FAIL": 3,
        "WARN": 43,
        "INFO": 2,
        "fails": ["1.1.12", "1.2.5", "4.2.6"],
    }


def test_a_clean_run() -> None:
    out = "[PASS] 4.1.1 x\n[WARN] 4.2.8 y\n\n== Summary total ==\n"
    out += "22 checks PASS\n0 checks FAIL\n3 checks WARN\n0 checks INFO\n"
    result = kube_bench.parse_output(out)
    assert result.counts == {"PASS": 22, "FAIL": 0, "WARN": 3, "INFO": 0}
    assert result.fails == frozenset()
    assert json.loads(json.dumps(result.score()))["fails"] == []


def test_an_output_without_a_summary_keeps_its_tail_and_counts_nothing() -> None:
    out = "x" * 1000 + "error: config not found"
    result = kube_bench.parse_output(out)
    assert result.summary == out[-400:]
    assert result.counts == {"PASS": 0, "FAIL": 0, "WARN": 0, "INFO": 0}


def test_the_command_skips_the_not_applicable_checks_and_cleans_up() -> None:
    command = kube_bench.command(kube_bench.CONTROL_PLANE_TARGETS)
    assert f"--benchmark {checks.BENCHMARK} run --targets master,etcd,node,controlplane,policies" in command
    assert f"--skip {','.join(sorted(checks.NOT_APPLICABLE))}" in command
    assert command.endswith(f"rm -rf {kube_bench.REMOTE_DIR}")


def _export(outputs: dict[str, object]) -> dict[str, object]:
    return {
        "deployment": {
            "resources": [
                {"urn": "urn:pulumi:dev::k8s-from-scratch::pulumi:pulumi:Stack::x", "outputs": {}},
                {
                    "urn": "urn:pulumi:dev::k8s-from-scratch::tls:index/privateKey:PrivateKey::"
                    + "dev-lab-ssh-key",
                    "outputs": outputs,
                },
            ]
        }
    }


def test_the_bench_reads_the_lab_key_from_the_export() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    secret = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "plaintext": json.dumps(key)}
    assert ssh_key(_export({"privateKeyOpenssh": secret})) == key
    assert ssh_key(_export({"privateKeyOpenssh": key})) == key
    with pytest.raises(KeyError):
        ssh_key(_export({}), "other-key")
