"""render/kube_bench.py against kube-bench's own config.yaml and CIS benchmark, read from the
pinned archive, and the patched check run by the toolchain's kube-bench."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import control_plane as cp
from render import kube_bench, kubelet, systemd
from render.systemd import UNIT_DIR
from tests.support.specs import preset_spec

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "kube-bench-v0.15.6.tar.gz"
TOOLCHAIN = Path(os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain"))
KUBE_BENCH = TOOLCHAIN / "kube-bench" / "v0.15.6" / "linux-amd64"


def upstream_file(name: str = "config.yaml") -> dict[str, Any]:
    """A file of kube-bench's cfg directory, parsed."""
    with tarfile.open(ARCHIVE) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(f"/cfg/{name}"))
        handle = tar.extractfile(member)
        assert handle is not None
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


def upstream_config() -> dict[str, Any]:
    return upstream_file("config.yaml")


def test_kube_bench_reads_our_units_and_kubelet_config_instead_of_kubeadms() -> None:
    upstream = upstream_config()
    ours = kube_bench.config(upstream)
    assert ours["master"]["apiserver"]["defaultconf"] == f"{UNIT_DIR}/{cp.APISERVER}.service"
    assert ours["master"]["apiserver"]["confs"] == [f"{UNIT_DIR}/{cp.APISERVER}.service"]
    assert ours["node"]["kubelet"]["defaultconf"] == kubelet.CONFIG
    assert ours["node"]["kubelet"]["defaultsvc"] == kubelet.UNIT_FILE
    text = yaml.safe_dump({k: ours[k] for k in ("master", "node", "etcd")})
    for kubeadm_path in ("/etc/kubernetes/manifests/", "/var/lib/kubelet/config.yaml", "10-kubeadm.conf"):
        assert kubeadm_path not in text, kubeadm_path
    # The rest of kube-bench's config (its version mapping, the other components) is kept.
    assert ours["version_mapping"] == upstream["version_mapping"]
    assert upstream["master"]["apiserver"]["defaultconf"].startswith("/etc/kubernetes/manifests/")


def test_kube_bench_checks_the_kubeconfigs_on_disk() -> None:
    """CIS 1.1.15-1.1.18 stat the root-owned files, not the copies the services read."""
    ours = kube_bench.config(upstream_config())
    assert ours["master"]["scheduler"]["kubeconfig"] == [cp.SCHEDULER_KUBECONFIG]
    assert ours["master"]["scheduler"]["defaultkubeconfig"] == cp.SCHEDULER_KUBECONFIG
    assert ours["master"]["controllermanager"]["kubeconfig"] == [cp.KCM_KUBECONFIG]
    assert ours["master"]["controllermanager"]["defaultkubeconfig"] == cp.KCM_KUBECONFIG
    assert not any(p.startswith("/run/") for p in (cp.SCHEDULER_KUBECONFIG, cp.KCM_KUBECONFIG))


def _checks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for group in doc["groups"] for c in group["checks"]}


def test_the_schedulers_profiling_check_also_reads_its_config_file() -> None:
    name = f"{kube_bench.BENCHMARK}/master.yaml"
    upstream = upstream_file(name)
    ours = kube_bench.PATCHED_FILES[name](upstream)
    before, after = _checks(upstream), _checks(ours)
    check = after["1.4.1"]
    assert check["audit_config"] == f"/bin/cat {cp.SCHEDULER_CONFIG}"
    assert check["tests"]["test_items"] == [
        {"flag": "--profiling", "path": "{.enableProfiling}", "compare": {"op": "eq", "value": False}}
    ]
    assert check["audit"] == before["1.4.1"]["audit"]  # the flag, when set, is still read first
    assert "audit_config" not in before["1.4.1"]
    del after["1.4.1"], before["1.4.1"]
    assert after == before  # nothing else changed
    # The file it reads is the one the scheduler is started with, and says what the check wants.
    spec = preset_spec("ha-calico")
    assert ("config", cp.SCHEDULER_CONFIG) in cp.scheduler_flags(spec)
    assert yaml.safe_load(cp.scheduler_config(spec))["enableProfiling"] is False
    assert not any(flag == "profiling" for flag, _ in cp.scheduler_flags(spec))


@pytest.mark.realtool
@pytest.mark.parametrize(
    ("patched", "profiling", "result"),
    [(True, False, "PASS"), (True, True, "FAIL"), (False, False, "FAIL")],
    ids=["ours", "profiling-on", "unpatched"],
)
def test_kube_bench_runs_the_patched_check_against_a_scheduler_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patched: bool, profiling: bool, result: str
) -> None:
    """The toolchain's kube-bench, check 1.4.1, against stand-ins for the control plane's
    programs (kube-bench runs master checks only while it sees them), the scheduler with our
    flags, and our scheduler config (enableProfiling as given) in a temporary place."""
    if not (KUBE_BENCH / "kube-bench").exists():
        pytest.skip("no kube-bench in the toolchain (toolchain/build.sh kube-bench)")
    spec = preset_spec("ha-calico")
    config = tmp_path / "scheduler-config.yaml"
    doc = yaml.safe_load(cp.scheduler_config(spec))
    config.write_text(yaml.safe_dump({**doc, "enableProfiling": profiling}))
    flag, _, json_path = kube_bench.CONFIG_FILE_CHECKS["1.4.1"]
    monkeypatch.setitem(kube_bench.CONFIG_FILE_CHECKS, "1.4.1", (flag, str(config), json_path))
    cfg = tmp_path / "cfg"
    shutil.copytree(KUBE_BENCH / "cfg", cfg)
    for name, patch in kube_bench.PATCHED_FILES.items():
        if patched or name == "config.yaml":
            (cfg / name).write_text(yaml.safe_dump(patch(yaml.safe_load((cfg / name).read_text()))))
    # Stand-ins: the Python interpreter under each program's name, sleeping, with its flags.
    (tmp_path / "bin").mkdir()
    programs = {
        cp.APISERVER: systemd.flags(cp.apiserver_flags(spec, spec.control_plane_nodes[0])),
        cp.KCM: systemd.flags(cp.controller_manager_flags(spec)),
        cp.SCHEDULER: systemd.flags(cp.scheduler_flags(spec)),
    }
    running = []
    try:
        for name, flags in programs.items():
            exe = tmp_path / "bin" / name
            shutil.copy(os.path.realpath(sys.executable), exe)
            running.append(subprocess.Popen([str(exe), "-c", "import time; time.sleep(120)", *flags]))
        time.sleep(0.5)
        bench = [str(KUBE_BENCH / "kube-bench"), "--config-dir", str(cfg)]
        out = subprocess.run(
            [*bench, "--benchmark", kube_bench.BENCHMARK, "run", "--targets", "master", "--check", "1.4.1"],
            capture_output=True,
            text=True,
            timeout=120,
            # ps, which kube-bench finds programs with, cuts command lines at $COLUMNS (pytest sets 80).
            env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
        )
    finally:
        for process in running:
            process.kill()
            process.wait()
    assert out.returncode == 0, out.stderr
    assert f"[{result}] 1.4.1 " in out.stdout, out.stdout
