"""The one template mechanism (render/scripts.py): values arrive as quoted shell variables, and a
missing, unexpected or unused value, or a broken directive, fails when the script is rendered."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from render import scripts


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A templates folder of the test's own, with a fresh cache."""
    monkeypatch.setattr(scripts, "TEMPLATES", tmp_path)
    scripts.load.cache_clear()
    yield tmp_path
    scripts.load.cache_clear()


def _write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


def test_values_become_quoted_variables_above_the_text(templates: Path) -> None:
    _write(templates, "t/greet.sh", '#% params: WHO\necho "hello $WHO"\n')
    text = scripts.script("t/greet.sh", WHO="it's; rm -rf /")
    assert text == "#!/bin/sh\nWHO='it'\\''s; rm -rf /'\necho \"hello $WHO\"\n"
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True)
    assert out.stdout == "hello it's; rm -rf /\n"


def test_a_missing_value_fails(templates: Path) -> None:
    _write(templates, "t/two.sh", '#% params: A B\necho "$A ${B}"\n')
    with pytest.raises(KeyError, match=r"no value for \['B'\]"):
        scripts.script("t/two.sh", A="1")


def test_a_value_the_template_does_not_declare_fails(templates: Path) -> None:
    _write(templates, "t/one.sh", '#% params: A\necho "$A"\n')
    with pytest.raises(KeyError, match=r"no parameter for \['LEFTOVER'\]"):
        scripts.script("t/one.sh", A="1", LEFTOVER="2")


def test_a_declared_parameter_the_text_never_reads_fails(templates: Path) -> None:
    _write(templates, "t/unused.sh", '#% params: A UNUSED\necho "$A"\n')
    with pytest.raises(ValueError, match="declares UNUSED but never reads it"):
        scripts.load("t/unused.sh")


def test_includes_are_inlined_and_their_parameters_must_be_declared(templates: Path) -> None:
    _write(templates, "lib/say.sh", '#% params: WHAT\nsay() { echo "$WHAT"; }\n')
    _write(templates, "t/main.sh", "#% params: WHAT\nset -eu\n#% include: lib/say.sh\nsay\n")
    assert scripts.body("t/main.sh", WHAT="x") == "WHAT='x'\nset -eu\nsay() { echo \"$WHAT\"; }\nsay\n"
    _write(templates, "t/bad.sh", "set -eu\n#% include: lib/say.sh\nsay\n")
    with pytest.raises(ValueError, match="reads \\['WHAT'\\]: add them to params"):
        scripts.load("t/bad.sh")


def test_unknown_directives_and_bad_names_fail(templates: Path) -> None:
    _write(templates, "t/typo.sh", "#% parms: A\necho\n")
    with pytest.raises(ValueError, match="unknown directive"):
        scripts.load("t/typo.sh")
    _write(templates, "t/lower.sh", '#% params: a\necho "$a"\n')
    with pytest.raises(ValueError, match="not an upper-case shell variable"):
        scripts.load("t/lower.sh")


def test_defs_go_between_the_values_and_the_text(templates: Path) -> None:
    _write(templates, "t/check.sh", '#% params: N\nhealthy && echo "$N"\n')
    text = scripts.body("t/check.sh", defs="healthy() {\n  true\n}\n", N="1")
    assert text == "N='1'\nhealthy() {\n  true\n}\nhealthy && echo \"$N\"\n"


def test_every_product_template_loads() -> None:
    """Each template under render/templates/ has well-formed directives and reads what it declares."""
    names = sorted(str(p.relative_to(scripts.TEMPLATES)) for p in scripts.TEMPLATES.rglob("*") if p.is_file())
    assert names, "no templates found"
    for name in names:
        scripts.load(name)
