"""Rendered scripts and units under real tools: shellcheck, systemd-analyze verify, plain sh.

A missing tool skips the test (and tests/conftest.py fails a skip in CI)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from render.scripts import inline

# A systemctl stand-in for scripts run against a fake host: logs its calls to $CALLS; every unit
# is active except those named in $INACTIVE; `show -p` prints $STARTED as a unit's start
# timestamps (`Name=value`) and 0 for anything else (NRestarts, asked for with --value).
FAKE_SYSTEMCTL = r"""#!/bin/sh
echo "systemctl $*" >>"$CALLS"
case "$1" in
  is-active)
    for u in ${INACTIVE:-}; do
      [ "$u" = "$3" ] && exit 3
    done
    exit 0
    ;;
  show)
    case "$3" in
      ExecMainStartTimestamp | ActiveEnterTimestamp) echo "$3=${STARTED:-}" ;;
      *) echo 0 ;;
    esac
    ;;
esac
exit 0
"""


def with_vars(script: str, **values: str) -> str:
    """A rendered script with some of its header assignments replaced (paths into a tmp dir)."""
    for key, value in values.items():
        script, n = re.subn(rf"^{key}=.*$", f"{key}='{value}'", script, count=1, flags=re.M)
        assert n == 1, key
    return script


def need(tool: str, package: str) -> str:
    """The path of `tool`, or the test is skipped, naming the package to install."""

    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
    return found


def shellcheck(tmp_path: Path, scripts: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`shellcheck -s sh` over these scripts (name -> text), written to tmp_path/<name>.sh as a
    host runs them: with the library files they source in place (render.scripts.inline)."""
    need("shellcheck", "shellcheck")
    paths = []
    for name, text in scripts.items():
        path = tmp_path / f"{name}.sh"
        path.write_text(inline(text))
        paths.append(str(path))
    return subprocess.run(["shellcheck", "-s", "sh", *paths], capture_output=True, text=True)


def stand_in(tmp_path: Path, name: str = "bin-stand-in") -> Path:
    """An executable that does nothing: verify checks that ExecStart binaries exist."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def assert_units_verify(
    tmp_path: Path, units: Mapping[str, str], binaries: tuple[str, ...] = (), about: str | None = None
) -> None:
    """`systemd-analyze verify` passes these units (file name -> text) written under tmp_path, each
    of `binaries` replaced by a stand-in, with no complaint about them (lines naming a unit file,
    or `about`)."""
    need("systemd-analyze", "systemd")
    fake = str(stand_in(tmp_path))
    paths = []
    for name, text in units.items():
        for binary in binaries:
            text = text.replace(binary, fake)
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *paths], capture_output=True, text=True)
    names = [about] if about else list(units)
    problems = [line for line in result.stderr.splitlines() if any(name in line for name in names)]
    assert result.returncode == 0 and not problems, result.stderr


def stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Terminates a process this test started; kills it if it is still there after `grace` s."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
