"""The real Pulumi CLI on one stack of this project, in a throw-away file backend.

The stack file is copied next to the state (with the stack's own encryption salt), so the
repository's files are never changed. `up`, `refresh` and `destroy` run with `--json`, which
streams the engine's events (one JSON object a line) on stdout: the tests read from them what
each step did and when.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import mirror
from mockrun.program import REPO
from scripts.repair_hosts import engine_events

PASSPHRASE = "k8s-from-scratch-e2e"


def pulumi_version() -> str:
    for line in (REPO / "toolchain" / "versions.env").read_text().splitlines():
        if "K8SFS_PULUMI_VERSION:=" in line:
            return line.split(":=", 1)[1].rstrip('}"')
    raise AssertionError("toolchain/versions.env names no K8SFS_PULUMI_VERSION")


def pulumi_cli() -> Path | None:
    """The CLI toolchain/build.sh built, else one on PATH."""
    built = mirror.TOOLCHAIN_DIR / "pulumi" / pulumi_version() / "pulumi"
    if built.is_file():
        return built
    found = shutil.which("pulumi")
    return Path(found) if found else None


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    timestamp: int

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class Events:
    """What one engine run did, from its `--event-log`."""

    lines: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def parse(text: str) -> Events:
        # (a line cut short, read while the engine writes, is skipped like any non-event)
        return Events(engine_events(text))

    @staticmethod
    def read(path: Path) -> Events:
        return Events.parse(path.read_text()) if path.exists() else Events()

    def finished(self) -> list[Step]:
        """Every resource step that completed, with its time (seconds since the epoch)."""
        out = []
        for event in self.lines:
            done = event.get("resOutputsEvent")
            if done:
                meta = done["metadata"]
                out.append(Step(meta["op"], meta["urn"], int(event.get("timestamp", 0))))
        return out

    def changed(self) -> list[Step]:
        """The steps that did something (not `same`, and not a read)."""
        return [s for s in self.finished() if s.op not in ("same", "read", "refresh")]

    def errors(self) -> list[str]:
        return [
            e["diagnosticEvent"].get("message", "")
            for e in self.lines
            if e.get("diagnosticEvent", {}).get("severity") == "error"
        ]


# How a state export marks a secret value (shown with --show-secrets as JSON text in "plaintext").
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def unsecret(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_SIG in value:
        return json.loads(value["plaintext"])
    return value


class Stack:
    def __init__(
        self, name: str, stack_file: Path, workdir: Path, cli: Path, state: Path | None = None
    ) -> None:
        """A new stack of this project in `state` (a file backend; default: its own, in
        `workdir`): another stack's, for a stack that reads it (a node pool)."""
        self.name = name
        self.workdir = workdir
        self.config = workdir / f"Pulumi.{name}.yaml"
        self.state = state = state or workdir / "state"
        workdir.mkdir(parents=True, exist_ok=True)
        state.mkdir(parents=True, exist_ok=True)
        lines = stack_file.read_text().splitlines(keepends=True)
        config = "".join(line for line in lines if not line.startswith("encryptionsalt:"))
        # The program finds the lab mirror where the lab serves it, not the tests' fake one.
        inherited = {k: v for k, v in os.environ.items() if k != "K8SFS_LAB_MIRROR_DIR"}
        self.env = {
            **inherited,
            "PATH": f"{cli.parent}:{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "K8SFS_TOOLCHAIN_DIR": str(mirror.TOOLCHAIN_DIR),
        }
        # `stack init` takes no --config-file: it writes the new stack's encryption salt into
        # Pulumi.<stack>.yaml of the folder it runs in. Run it in a folder of its own with the
        # project file, and give the salt (this stack's own, for its own passphrase) to the copy.
        init = workdir / "init"
        init.mkdir(exist_ok=True)
        shutil.copy(REPO / "Pulumi.yaml", init / "Pulumi.yaml")
        subprocess.run(
            ["pulumi", "stack", "init", name, "--non-interactive"],
            cwd=init,
            env=self.env,
            check=True,
            capture_output=True,
        )
        salt = [line for line in (init / f"Pulumi.{name}.yaml").read_text().splitlines() if "salt" in line]
        self.config.write_text(config + "".join(f"{line}\n" for line in salt))

    def replace_config(self, stack_file: str) -> None:
        """This stack's configuration becomes `stack_file`'s (a Pulumi.<stack>.yaml text), its
        encryption salt kept; secrets set before must be set again."""
        salt = [line for line in self.config.read_text().splitlines() if line.startswith("encryptionsalt:")]
        self.config.write_text(stack_file + "".join(f"{line}\n" for line in salt))

    def cli(
        self, args: list[str], *, check: bool = True, stdin: str | None = None, timeout: float = 3600
    ) -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS --stack NAME [--config-file ...]`, from the project folder."""
        reads_config = args[0] in ("up", "preview", "refresh", "destroy", "config")
        config = ["--config-file", str(self.config)] if reads_config else []
        result = subprocess.run(
            ["pulumi", *args, "--stack", self.name, *config, "--non-interactive"],
            cwd=REPO,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            # With --json the first errors are engine events, far above a language host's
            # traceback: say them first.
            errors = "\n".join(Events.parse(result.stdout).errors())[:6000]
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({result.returncode}):\n{errors}\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def engine(
        self, *args: str, check: bool = True, label: str = ""
    ) -> tuple[subprocess.CompletedProcess[str], Events, float]:
        """An engine command with its events (up, refresh, destroy; a preview's `--json` is one
        summary document, not events) and its duration."""
        streams = args[0] in ("up", "refresh", "destroy")
        start = time.monotonic()
        result = self.cli([*args, *(["--json"] if streams else [])], check=check)
        seconds = time.monotonic() - start
        if label:
            print(f"\n[e2e {self.name}] {label}: {seconds:.1f} s")
        return result, Events.parse(result.stdout) if streams else Events(), seconds

    def interrupted_up(self, when_done: int) -> tuple[int, Events]:
        """`pulumi up`, sent SIGINT (Ctrl-C) once `when_done` resources have finished; returns its
        exit code and events. Pulumi then finishes the steps in flight and stops."""
        log = self.workdir / "interrupted-up.jsonl"
        command = ["pulumi", "up", "--yes", "--skip-preview", "--stack", self.name]
        command += ["--config-file", str(self.config), "--non-interactive", "--json"]
        with log.open("w") as out:
            proc = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 1800
            while proc.poll() is None and time.monotonic() < deadline:
                if len(Events.read(log).finished()) >= when_done:
                    proc.send_signal(signal.SIGINT)
                    break
                time.sleep(0.5)
            code = proc.wait(timeout=1800)
        return code, Events.read(log)

    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.cli(["stack", "output", "--json", "--show-secrets"]).stdout)
        return out

    def export(self, secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "export", *(["--show-secrets"] if secrets else [])]
        out: dict[str, Any] = json.loads(self.cli(args).stdout)
        return out

    def resource_outputs(self, name: str) -> dict[str, Any]:
        """The outputs of the resource named `name`, secrets shown."""
        for resource in self.export(secrets=True)["deployment"]["resources"]:
            if resource["urn"].endswith(f"::{name}"):
                return {k: unsecret(v) for k, v in (resource.get("outputs") or {}).items()}
        raise AssertionError(f"no resource named {name} in the state of {self.name}")

    def config_set(self, path: str, value: str, secret: bool = False) -> None:
        args = ["config", "set", "--path", path]
        if secret:
            self.cli([*args, "--secret"], stdin=value)
        else:
            self.cli([*args, value])
