"""The one template mechanism (render/scripts.py): values arrive as quoted shell variables, and a
missing, unexpected or unused value, or a broken directive, fails when the script is rendered."""

from __future__ import annotations

import hashlib
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


# --- the host script library --------------------------------------------------------------------


def test_a_host_lib_template_is_sourced_from_the_library_and_inlines_to_its_text() -> None:
    name = "service/stop.sh"
    text = scripts.body(name, UNIT="x.service", STATE_DIR="/s", REMOVE="")
    file = scripts.lib_file(name)
    assert text == f"UNIT='x.service'\nSTATE_DIR='/s'\nREMOVE=''\n. {scripts.LIB_DIR}/{file}\n"
    # On the host it runs exactly the text it would have carried.
    assert scripts.inline(text) == "UNIT='x.service'\nSTATE_DIR='/s'\nREMOVE=''\n" + scripts.load(name).text
    assert file.startswith("service-stop.") and file.endswith(".sh")
    assert hashlib.sha256(scripts.load(name).text.encode()).hexdigest().startswith(file.split(".")[1])


def test_templates_outside_the_library_are_rendered_whole() -> None:
    text = scripts.script("drift/units.sh", UNITS="a.service")
    assert scripts.LIB_DIR not in text and scripts.inline(text) == text
    with pytest.raises(KeyError, match="not in the host script library"):
        scripts.lib_file("drift/units.sh")


def test_the_library_holds_every_host_lib_template_under_its_own_name() -> None:
    library = scripts.library()
    assert sorted(library) == sorted(scripts.lib_file(n) for n in scripts.HOST_LIB)
    assert len(set(library)) == len(scripts.HOST_LIB)
    for name in scripts.HOST_LIB:
        assert library[scripts.lib_file(name)] == scripts.load(name).text


def test_inline_refuses_a_file_this_version_does_not_have() -> None:
    with pytest.raises(KeyError, match=r"service-stop\.0000000000000000\.sh"):
        scripts.inline(f". {scripts.LIB_DIR}/service-stop.0000000000000000.sh\n")
    assert scripts.inline(f"echo . {scripts.LIB_DIR}/x.sh\n") == f"echo . {scripts.LIB_DIR}/x.sh\n"


def test_a_changed_template_gets_a_new_library_file(templates: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scripts, "HOST_LIB", frozenset(["t/step.sh"]))
    scripts.lib_file.cache_clear()
    try:
        _write(templates, "t/step.sh", '#% params: A\necho "$A"\n')
        before = scripts.lib_file("t/step.sh")
        scripts.load.cache_clear()
        scripts.lib_file.cache_clear()
        _write(templates, "t/step.sh", '#% params: A\necho "A is $A"\n')
        after = scripts.lib_file("t/step.sh")
        assert before != after and before.startswith("t-step.") and after.startswith("t-step.")
    finally:
        scripts.lib_file.cache_clear()
        scripts.library.cache_clear()


def test_the_library_runs_from_its_directory(tmp_path: Path) -> None:
    """What a host does: the library files in a directory, a step's text sourcing one of them."""
    for file, text in scripts.library().items():
        (tmp_path / file).write_text(text)
    step = scripts.body(
        "service/wait.sh", defs="healthy() {\n  true\n}\n", WHAT="x", UNIT="", TRIES="2", INTERVAL="0"
    )
    text = step.replace(f". {scripts.LIB_DIR}/", f". {tmp_path}/")
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True)
    assert out.stdout == "x: healthy\n"
