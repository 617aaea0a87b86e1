"""Shared fixtures. The repo root is on sys.path so tests import spec/, render/, components/."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


import os  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def lab_mirror_for_presets(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The dev preset is a lab stack: its program reads the lab mirror's checksums. Unless a real
    mirror is given (K8SFS_LAB_MIRROR_DIR, as `make e2e` does), build one from fake binaries."""
    if os.environ.get("K8SFS_LAB_MIRROR_DIR"):
        return
    from lab import mirror
    from spec import load_spec
    from tests.harness.lab_fakes import fake_toolchain
    from tests.harness.program import REPO, preset_config

    raw, secret = preset_config(REPO / "Pulumi.dev.yaml")
    spec, _ = load_spec(raw, "dev", frozenset(secret))
    root = tmp_path_factory.mktemp("lab-mirror")
    out = root / "mirror"
    mirror.build(spec, [fake_toolchain(root / "toolchain")], out)
    os.environ["K8SFS_LAB_MIRROR_DIR"] = str(out)
