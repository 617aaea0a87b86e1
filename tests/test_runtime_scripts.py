"""The runtime's start and stop scripts, run with fake systemctl/crictl against temp directories.

Destroy must remove what we made and nothing else: a unit that is not ours is left running and a
state directory we did not create is kept.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from render import kubelet as kl
from render import runtime as rt
from render.scripts import inline
from tests.support.specs import TWO_NODES, config_spec
from tests.support.tools import FAKE_SYSTEMCTL, with_vars


def fakes(tmp_path: Path, crictl_ok_after: int = 1) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    counter = tmp_path / "crictl-calls"
    tools = {
        "systemctl": FAKE_SYSTEMCTL,
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
    return subprocess.run(["sh", "-c", inline(script)], text=True, capture_output=True, env=env, timeout=60)


def service(tmp_path: Path, content_hash: str = "ab" * 32, files: tuple[Path, ...] = ()) -> str:
    """The runtime's service script, its hash recorded under tmp_path/hashes, watching `files`."""
    return with_vars(
        rt.service_script(config_spec(TWO_NODES), content_hash, [str(f) for f in files]),
        HASH_DIR=str(tmp_path / "hashes"),
        STATE_DIRS=str(tmp_path / "s"),
        CTR="ctr",
    )


def test_service_marks_only_state_dirs_it_creates_and_waits_for_the_cri(tmp_path: Path) -> None:
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir()
    script = with_vars(service(tmp_path), STATE_DIRS=f"{fresh} {existing}")
    result = run(script, fakes(tmp_path, crictl_ok_after=3))
    assert result.returncode == 0, result.stderr
    assert (fresh / rt.OWNED_MARK).exists() and not (existing / rt.OWNED_MARK).exists()
    calls = (tmp_path / "calls").read_text()
    assert "systemctl restart containerd.service" in calls
    assert calls.count("ctr --address /run/containerd/containerd.sock plugins ls") == 3
    assert (tmp_path / "hashes/containerd.service.hash").read_text() == "ab" * 32 + "\n"


def restarted(tmp_path: Path, script: str, **env: str) -> bool:
    """Runs the service script (the unit active); whether it restarted the unit."""
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    result = run(script, {**fakes(tmp_path), **env})
    assert result.returncode == 0, result.stderr
    return "systemctl restart containerd.service" in calls.read_text()


def test_service_restarts_only_when_the_recorded_hash_differs(tmp_path: Path) -> None:
    assert restarted(tmp_path, service(tmp_path)), "no hash recorded, start time unknown: restart"
    assert not restarted(tmp_path, service(tmp_path)), "same files again (a step re-run): no restart"
    assert restarted(tmp_path, service(tmp_path, "cd" * 32)), "changed files: restart"
    assert (tmp_path / "hashes/containerd.service.hash").read_text() == "cd" * 32 + "\n"
    assert not restarted(tmp_path, service(tmp_path, "cd" * 32))


def test_service_without_a_recorded_hash_keeps_a_unit_started_after_its_files(tmp_path: Path) -> None:
    """The first run after an upgrade from a version that recorded no hash: a unit whose main
    process started after every watched file was last written already runs with them."""
    files = (tmp_path / "config.toml", tmp_path / "containerd.service")
    for f in files:
        f.write_text("x")
        os.utime(f, (1_700_000_000, 1_700_000_000))
    later = "Tue 2023-11-14 22:13:21 UTC"  # 1700000001
    assert not restarted(tmp_path, service(tmp_path, files=files), STARTED=later)
    assert (tmp_path / "hashes/containerd.service.hash").exists(), "recorded from now on"


@pytest.mark.parametrize(
    ("started", "why"),
    [
        ("Tue 2023-11-14 22:13:19 UTC", "a file was written after the unit started"),
        ("", "the start time is unknown"),
        ("n/a", "the start time is unknown"),
    ],
)
def test_service_without_a_recorded_hash_restarts_when_it_cannot_tell(
    tmp_path: Path, started: str, why: str
) -> None:
    files = (tmp_path / "config.toml",)
    files[0].write_text("x")
    os.utime(files[0], (1_700_000_000, 1_700_000_000))
    assert restarted(tmp_path, service(tmp_path, files=files), STARTED=started), why


def test_service_without_a_recorded_hash_restarts_when_a_watched_file_is_missing(tmp_path: Path) -> None:
    later = "Tue 2023-11-14 22:13:21 UTC"
    assert restarted(tmp_path, service(tmp_path, files=(tmp_path / "gone",)), STARTED=later)


def test_service_starts_an_inactive_unit(tmp_path: Path) -> None:
    (tmp_path / "hashes").mkdir()
    (tmp_path / "hashes/containerd.service.hash").write_text("ab" * 32 + "\n")
    assert restarted(tmp_path, service(tmp_path), INACTIVE="containerd.service")


def test_service_reports_a_runtime_that_never_answers(tmp_path: Path) -> None:
    script = service(tmp_path)
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
        HASH_DIR=str(tmp_path / "hashes"),
    )
    (tmp_path / "hashes").mkdir()
    (tmp_path / "hashes/containerd.service.hash").write_text("ab" * 32 + "\n")
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
    assert not (tmp_path / "hashes").exists(), "its recorded hash is forgotten"


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
        hashes = base / "hashes"
        hashes.mkdir()
        (hashes / "kubelet.service.hash").write_text("ab" * 32 + "\n")
        (hashes / "etcd.service.hash").write_text("cd" * 32 + "\n")
        script = with_vars(
            kl.stop_script(),
            UNIT_FILE=str(unit),
            STATE_DIR=str(state),
            HOST_FACTS=str(facts),
            HASH_DIR=str(hashes),
        )
        result = run(script, fakes(base))
        assert result.returncode == 0, result.stderr
        assert state.exists() is not ours
        assert not facts.exists()
        assert sorted(p.name for p in hashes.iterdir()) == ["etcd.service.hash"], "only its own hash goes"
