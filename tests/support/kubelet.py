"""The kubelet service script run against a fake host (fake systemctl, stat, meminfo, resolv.conf)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from render import kubelet as kl
from render.scripts import inline
from tests.support.specs import TWO_NODES, config_spec
from tests.support.tools import FAKE_SYSTEMCTL, with_vars


def fake_bin(tmp_path: Path, fs_type: str | None, resolved: bool, restart_loop: bool = False) -> Path:
    """systemctl that logs its calls; with `restart_loop`, kubelet's NRestarts grows on each look."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    counter = tmp_path / "restarts"
    counter.write_text("0")
    # tools.FAKE_SYSTEMCTL, with systemd-resolved active or not, and NRestarts growing or not.
    systemctl = FAKE_SYSTEMCTL.replace(
        "  is-active)\n",
        f'  is-active)\n    [ "$3" = systemd-resolved ] && exit {0 if resolved else 3}\n',
    )
    if restart_loop:
        systemctl = systemctl.replace(
            "      *) echo 0 ;;\n",
            f'      *) n=$(($(cat {counter}) + 1)); echo "$n" >{counter}; echo "$n" ;;\n',
        )
    tools = {
        "systemctl": systemctl,
        "sleep": '#!/bin/sh\necho "sleep $*" >>"$CALLS"\n',
        "journalctl": "#!/bin/sh\necho 'kubelet: fake journal line'\n",
    }
    if fs_type is not None:  # the cgroup file system's type; anything else from the real stat
        tools["stat"] = f'#!/bin/sh\n[ "$1" = -fc ] && echo {fs_type} && exit 0\nexec /usr/bin/stat "$@"\n'
    for name, body in tools.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def run_service(
    tmp_path: Path,
    mem_kb: int,
    fs_type: str,
    resolved: bool,
    bootstrapped: bool,
    real_host: bool = False,
    restart_loop: bool = False,
    recorded_hash: str | None = None,
    content_hash: str = "ab" * 32,
    watched: tuple[Path, ...] = (),
    started: str = "",
):
    """The kubelet service script with fakes; `real_host` reads this machine's cgroup fs and RAM.
    The bootstrap kubeconfig is there (as the step's files part leaves it). The files' hash is
    recorded in tmp_path/hashes (`recorded_hash`: that of the kubelet already running); `started`
    is the unit's start time systemctl shows. Runs again in the same tmp_path see what the
    earlier ones left."""
    spec = config_spec(TWO_NODES)
    (tmp_path / "meminfo").write_text(f"MemTotal:       {mem_kb} kB\nMemFree: 1 kB\n")
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.1\n")
    state = tmp_path / "var-lib-kubelet"
    state.mkdir(exist_ok=True)
    if bootstrapped:
        (state / "kubeconfig").write_text("x")
        (state / "client.pem").write_text("x")
    (tmp_path / "bootstrap-kubeconfig").write_text("token: abcdef.0123456789abcdef\n")
    hashes = tmp_path / "hashes"
    if recorded_hash is not None:
        hashes.mkdir(exist_ok=True)
        (hashes / f"{kl.UNIT}.hash").write_text(recorded_hash + "\n")
    script = with_vars(
        kl.service_script(spec, spec.node("w1"), content_hash, [str(p) for p in watched]),
        HASH_DIR=str(hashes),
        HOST_FACTS=str(tmp_path / "config.d/50-host-facts.conf"),
        WATCHED=" ".join([*map(str, watched), str(tmp_path / "config.d/50-host-facts.conf")]),
        BOOTSTRAP=str(tmp_path / "bootstrap-kubeconfig"),
        KUBECONFIG=str(state / "kubeconfig"),
        CLIENT_CERT=str(state / "client.pem"),
        CGROUP_FS="/sys/fs/cgroup" if real_host else str(tmp_path),
        RESOLVED_CONF=str(tmp_path / "resolv.conf"),
        MEMINFO="/proc/meminfo" if real_host else str(tmp_path / "meminfo"),
    )
    bin_dir = fake_bin(tmp_path, None if real_host else fs_type, resolved, restart_loop)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"), "STARTED": started}
    return subprocess.run(["sh", "-c", inline(script)], text=True, capture_output=True, env=env, timeout=60)
