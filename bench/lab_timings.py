"""The `lab` section: wall-clock seconds of the real CLI against the local lab.

Runs only when a `pulumi` CLI is on PATH (the lab's `make up` puts the toolchain's there): up
from booted lab hosts, a no-op up, adding a worker, destroy. Each phase is a make target or a
pulumi command in a throw-away stack state, so that it never touches the developer's dev stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NO_CLI = (
    "no pulumi CLI on PATH: the real CLI cannot be built here (the Go module proxy refuses the "
    "pulumi CLI and provider modules); run `make bench` where `make up` works"
)


def lab_timings() -> dict[str, Any]:
    cli = shutil.which("pulumi")
    if cli is None:
        return {"skipped": NO_CLI}
    if os.geteuid() != 0:
        return {"skipped": "the lab needs root (systemd-nspawn, network namespaces)"}
    with tempfile.TemporaryDirectory(prefix="k8sfs-bench-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        config = Path(tmp) / "Pulumi.dev.yaml"
        shutil.copy(REPO / "Pulumi.dev.yaml", config)
        env = {
            **os.environ,
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "k8s-from-scratch-bench",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

        def run(*args: str) -> float:
            start = time.monotonic()
            subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True, text=True, timeout=3600)
            return round(time.monotonic() - start, 1)

        def pulumi(*args: str) -> float:
            return run(cli, *args, "--stack", "dev", "--config-file", str(config), "--non-interactive")

        timings: dict[str, Any] = {}
        try:
            pulumi("stack", "init", "dev")
            run("make", "lab-mirror")
            run("bash", "lab/lab.sh", "base")
            timings["up_seconds"] = pulumi("up", "--yes")
            timings["noop_up_seconds"] = pulumi("up", "--yes", "--expect-no-changes")
            workers = 3  # Pulumi.dev.yaml has 2
            pulumi("config", "set", "--path", "lab.workers", str(workers))
            timings["add_worker_seconds"] = pulumi("up", "--yes")
        except subprocess.CalledProcessError as err:
            timings["error"] = f"{' '.join(map(str, err.cmd))}: {(err.stderr or '')[-2000:]}"
        finally:
            try:
                timings["destroy_seconds"] = pulumi("destroy", "--yes")
            except subprocess.CalledProcessError as err:
                timings["destroy_error"] = (err.stderr or "")[-2000:]
        return timings
