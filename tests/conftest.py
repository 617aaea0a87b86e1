"""Shared fixtures. The repo root is on sys.path so tests import spec/, render/, components/."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


import os  # noqa: E402
from collections.abc import Generator  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def lab_mirror_for_presets(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The dev preset is a lab stack: its program reads the lab mirror's checksums. Unless a real
    mirror is given (K8SFS_LAB_MIRROR_DIR, as `make e2e` does), build one from fake binaries."""
    if os.environ.get("K8SFS_LAB_MIRROR_DIR"):
        return
    from lab import mirror
    from mockrun.program import REPO, preset_config
    from spec.parse import parse
    from tests.harness.lab_fakes import fake_toolchain

    raw, secret = preset_config(REPO / "Pulumi.dev.yaml")
    spec, _ = parse(raw, "dev", frozenset(secret))  # load_spec would look for this very mirror
    root = tmp_path_factory.mktemp("lab-mirror")
    out = root / "mirror"
    mirror.build(spec, [fake_toolchain(root / "toolchain")], out)
    os.environ["K8SFS_LAB_MIRROR_DIR"] = str(out)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.only_stacks("dev")` on a test of a stack-parametrized module: the test is not
    collected for the other stacks (deselected, not skipped: CI fails on skips)."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("only_stacks")
        callspec = getattr(item, "callspec", None)
        stack = callspec.params.get("lab") if callspec else None
        (drop if marker and stack is not None and stack not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """In CI (CI=true) a skipped test fails: a real-tool or lab test that cannot run there has lost
    its install step, and a green run would hide it."""
    report = yield
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"
    return report
