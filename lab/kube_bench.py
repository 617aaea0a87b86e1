"""kube-bench (CIS benchmark) on one lab host, with our paths mapped (render/kube_bench.py).

The toolchain's kube-bench and its cfg directory, patched, go to the host over SFTP, run there
and are removed again. Used by the e2e tier (tests/test_lab_e2e.py) and by `make bench`
(bench/lab_timings.py: the `lab.kube_bench` score).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from components import ssh
from components.ssh import Target, connect, run
from lab.mirror import TOOLCHAIN_DIR
from render import kube_bench

VERSION = "v0.15.6"  # toolchain/versions.env K8SFS_KUBE_BENCH_VERSION
KUBE_BENCH = TOOLCHAIN_DIR / "kube-bench" / VERSION / "linux-amd64"
REMOTE_DIR = "/opt/k8sfs-kube-bench"  # removed again after the run
CONTROL_PLANE_TARGETS = "master,etcd,node,controlplane,policies"
WORKER_TARGETS = "node"
STATES = ("PASS", "FAIL", "WARN", "INFO")
SUMMARY_TOTAL = "== Summary total =="
_COUNT = re.compile(r"^\s*(\d+)\s+checks?\s+(PASS|FAIL|WARN|INFO)\s*$")


@dataclass(frozen=True)
class Result:
    summary: str  # kube-bench's "== Summary total ==" block (else the output's tail)
    counts: dict[str, int] = field(default_factory=dict)  # PASS, FAIL, WARN, INFO
    fails: frozenset[str] = frozenset()  # the FAILed check ids, e.g. "1.2.5"

    def score(self) -> dict[str, object]:
        """For the bench results: the four counts and the sorted FAIL ids."""
        return {**self.counts, "fails": sorted(self.fails)}


def parse_output(out: str) -> Result:
    """kube-bench's text output: the total summary, its counts, and the [FAIL] check ids."""
    summary = out[out.rindex(SUMMARY_TOTAL) :] if SUMMARY_TOTAL in out else out[-400:]
    counts = dict.fromkeys(STATES, 0)
    if SUMMARY_TOTAL in out:
        for line in summary.splitlines():
            match = _COUNT.match(line)
            if match:
                counts[match.group(2)] = int(match.group(1))
    fails = frozenset(line.split()[1] for line in out.splitlines() if line.startswith("[FAIL]"))
    return Result(summary.strip(), counts, fails)


def bundle(work_dir: Path, source: Path = KUBE_BENCH) -> Path:
    """kube-bench and its cfg, with PATCHED_FILES applied, as a .tar.gz in work_dir."""
    cfg = work_dir / "cfg"
    shutil.copytree(source / "cfg", cfg)
    for name, patch in kube_bench.PATCHED_FILES.items():
        upstream = yaml.safe_load((cfg / name).read_text())
        (cfg / name).write_text(yaml.safe_dump(patch(upstream), sort_keys=False))
    tarball = work_dir / "kube-bench.tar.gz"
    subprocess.run(["tar", "-czf", tarball, "-C", source, "kube-bench", "-C", work_dir, "cfg"], check=True)
    return tarball


def command(targets: str) -> str:
    skip = ",".join(sorted(kube_bench.NOT_APPLICABLE))
    return (
        f"cd {REMOTE_DIR} && tar -xzf kube-bench.tar.gz && ./kube-bench --config-dir cfg "
        f"--benchmark {kube_bench.BENCHMARK} run --targets {shlex.quote(targets)} --skip {skip} "
        f"2>/dev/null; rm -rf {REMOTE_DIR}"
    )


def run_on(target: Target, targets: str, work_dir: Path) -> Result:
    """kube-bench's result on one host (targets: e.g. CONTROL_PLANE_TARGETS, WORKER_TARGETS).

    work_dir: an empty (or new) local directory for the bundle. Raises RuntimeError when a
    command on the host fails.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    tarball = bundle(work_dir)
    _check(target, run(target, f"mkdir -p {REMOTE_DIR}"))
    client = connect(target)  # sftp: the binary is 80 MB
    try:
        client.open_sftp().put(str(tarball), f"{REMOTE_DIR}/kube-bench.tar.gz")
    finally:
        client.close()
    result = run(target, command(targets))
    _check(target, result)
    return parse_output(result.stdout)


def _check(target: Target, result: ssh.Result) -> None:
    if result.code != 0:
        raise RuntimeError(f"{target.host}: kube-bench: exit {result.code}: {result.stderr[-2000:]}")
