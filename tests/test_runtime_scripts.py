"""The runtime's start and stop scripts, run with fake systemctl/crictl against temp directories.

Destroy must remove what we made and nothing else: a unit that is not ours is left running and a
state directory we did not create is kept.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from render import kubelet as kl
from render import runtime as rt
from tests.support.specs import TWO_NODES, config_spec
from tests.support.tools import with_vars


def fakes(tmp_path: Path, crictl_ok_after: int = 1) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    counter = tmp_path / "crictl-calls"
    tools = {
        "systemctl": (
            '#!/bin/sh\necho "systemctl $*" >>"$CALLS"\ncase "$1" in is-active) exit 0 ;; esac\nexit 0\n'
        ),
        "crictl": (
            '#!/bin/sh\necho "crictl $*" >>"$CALLS"\n'
            f'n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"{counter}"\n'
            f'[ "$n" -ge {crictl_ok_after} ]\n'
        ),
        # containerd's readiness: ctr lists its CRI plugin "ok" (from the N-th call on).
        "ctr": (
            '#!/bin/sh\necho "ctr $*" >>"$CALLS"\n'
            f'n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"{counter}"\n'
            f'if [ "$n" -ge {crictl_ok_after} ]; then s=ok; else s=error; fi\n'
            'echo "io.containerd.grpc.v1  cri  -  $s"\n'
        ),
        "journalctl": "#!/bin/sh\necho 'containerd: fake journal line'\n",
        "sleep": "#!/bin/sh\nexit 0\n",
    }
    for name, body in tools.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls")}


def run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], text=True, capture_output=True, env=env, timeout=60)


def test_service_marks_only_state_dirs_it_creates_and_waits_for_the_cri(tmp_path: Path) -> None:
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir()
    script = with_vars(
        rt.service_script(config_spec(TWO_NODES), "ab" * 32), STATE_DIRS=f"{fresh} {existing}", CTR="ctr"
    )
    result = run(script, fakes(tmp_path, crictl_ok_after=3))
    assert result.returncode == 0, result.stderr
    assert (fresh / rt.OWNED_MARK).exists() and not (existing / rt.OWNED_MARK).exists()
    calls = (tmp_path / "calls").read_text()
    assert "systemctl restart containerd.service" in calls
    assert calls.count("ctr --address /run/containerd/containerd.sock plugins ls") == 3


def test_service_reports_a_runtime_that_never_answers(tmp_path: Path) -> None:
    script = with_vars(
        rt.service_script(config_spec(TWO_NODES), "ab" * 32), STATE_DIRS=str(tmp_path / "s"), CTR="ctr"
    )
    result = run(script, fakes(tmp_path, crictl_ok_after=1000))
    assert result.returncode == 1
    assert "containerd.service does not answer" in result.stderr and "fake journal line" in result.stderr


def stop(tmp_path: Path, ours: bool) -> tuple[subprocess.CompletedProcess[str], dict[str, Path]]:
    spec = config_spec(TWO_NODES)
    dirs = {name: tmp_path / name for name in ("owned", "foreign", "volatile")}
    for d in dirs.values():
        (d / "data").mkdir(parents=True)
    (dirs["owned"] / rt.OWNED_MARK).write_text("")
    unit = tmp_path / "containerd.service"
    unit.write_text(rt.runtime_unit(spec) if ours else "[Service]\nExecStart=/usr/bin/containerd\n")
    script = with_vars(
        rt.stop_script(spec),
        UNIT_FILE=str(unit),
        STATE_DIRS=f"{dirs['owned']} {dirs['foreign']}",
        VOLATILE_DIRS=str(dirs["volatile"]),
        CRICTL="crictl",
    )
    return run(script, fakes(tmp_path)), dirs


def test_stop_removes_our_runtime_its_pods_and_the_state_it_created(tmp_path: Path) -> None:
    result, dirs = stop(tmp_path, ours=True)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert (
        "crictl --runtime-endpoint unix:///run/containerd/containerd.sock --timeout 30s rmp --all --force"
        in calls
    )
    assert "systemctl disable --now containerd.service" in calls
    assert not dirs["owned"].exists() and not dirs["volatile"].exists()
    assert dirs["foreign"].exists(), "a state dir we did not create is kept"


def test_stop_leaves_a_foreign_runtime_alone(tmp_path: Path) -> None:
    result, dirs = stop(tmp_path, ours=False)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "disable" not in calls and "rmp" not in calls
    assert dirs["volatile"].exists() and dirs["foreign"].exists()
    assert "is not ours" in result.stdout


def test_kubelet_stop_removes_its_state_only_when_the_unit_is_ours(tmp_path: Path) -> None:
    for ours in (True, False):
        base = tmp_path / str(ours)
        base.mkdir()
        state = base / "var-lib-kubelet"
        (state / "pki").mkdir(parents=True)
        facts = base / "50-host-facts.conf"
        facts.write_text("kind: KubeletConfiguration\n")
        unit = base / "kubelet.service"
        unit.write_text(
            kl.kubelet_unit(config_spec(TWO_NODES), config_spec(TWO_NODES).node("w1"))
            if ours
            else "[Service]\n"
        )
        script = with_vars(kl.stop_script(), UNIT_FILE=str(unit), STATE_DIR=str(state), HOST_FACTS=str(facts))
        result = run(script, fakes(base))
        assert result.returncode == 0, result.stderr
        assert state.exists() is not ours
        assert not facts.exists()
