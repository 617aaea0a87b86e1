"""run_parts: several scripts as one step, run for real by sh; and shellcheck over every host step
of every preset as the program renders it (combined parts included)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mockrun.program import presets, run_preset
from render.script_parts import Part, run_parts
from render.scripts import LIB_DIR, inline, lib_file

STRICT = "#!/bin/sh\nset -eu\n"


def _run(script: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`script` as a host runs it (the library files it sources in place)."""
    return subprocess.run(["sh", "-c", inline(script)], input=stdin, capture_output=True, text=True)


def test_parts_run_in_order_each_in_its_own_subshell() -> None:
    script = run_parts(
        "host-a-prepare",
        [
            Part("one", STRICT + 'X=from-one\necho "one X=$X"\n'),
            Part("two", STRICT + 'echo "two X=${X:-unset} SHARED=$SHARED"\ncd /\n'),
            Part("three", STRICT + "exit 0\necho never\n"),
            Part("four", STRICT + 'echo "four in $(pwd)"\n'),
        ],
        prelude="SHARED=from-prelude\ncd /tmp\n",
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    # Variables, cd and an early exit stay inside their part; the prelude reaches every part.
    assert done.stdout.splitlines() == [
        "one X=from-one",
        "two X=unset SHARED=from-prelude",
        "four in /tmp",
    ]


def test_a_failing_command_stops_its_part_and_the_step_and_names_the_part() -> None:
    script = run_parts(
        "host-a-prepare",
        [
            Part("one", STRICT + "echo one\n"),
            # No set -e of its own: the part still stops at the first failure.
            Part("swap", "false\necho after-false\n"),
            Part("three", STRICT + "echo three\n"),
        ],
    )
    done = _run(script)
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["one"]
    assert "error: host-a-prepare: swap failed (exit 1)" in done.stderr


def test_exit_status_of_the_failing_part_is_the_steps() -> None:
    done = _run(run_parts("s", [Part("a", "exit 7\n"), Part("b", "echo b\n")]))
    assert done.returncode == 7 and done.stdout == ""


def test_only_the_reading_part_gets_stdin() -> None:
    script = run_parts(
        "s",
        [
            Part("greedy", STRICT + 'printf "greedy:[%s]\\n" "$(cat)"\n'),
            Part("files", STRICT + 'printf "files:[%s]\\n" "$(cat)"\n', reads_stdin=True),
            Part("after", STRICT + 'printf "after:[%s]\\n" "$(cat)"\n'),
        ],
    )
    done = _run(script, stdin="bundle-line\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["greedy:[]", "files:[bundle-line]", "after:[]"]


def test_bad_compositions_are_refused() -> None:
    with pytest.raises(ValueError, match="repeat"):
        run_parts("s", [Part("a", "true"), Part("a", "true")])
    with pytest.raises(ValueError, match="stdin"):
        run_parts("s", [Part("a", "true", reads_stdin=True), Part("b", "true", reads_stdin=True)])
    assert _run(run_parts("s", [])).returncode == 0
    with pytest.raises(ValueError, match="lower-case words"):
        run_parts("s", [Part("a b", "true")])


def test_a_part_is_its_text_and_one_line_after_it() -> None:
    """What each part adds to the step's text (stored twice in the state for every step): a
    header, the subshell, and part_done from the host's script library, sourced once."""
    script = run_parts("s", [Part("one", "echo 1\n"), Part("files", "cat\n", reads_stdin=True)])
    assert script == (
        "#!/bin/sh\n"
        "K8SFS_STEP='s'\n"
        f". {LIB_DIR}/{lib_file('steps/parts.sh')}\n"
        "# --- part: one\nset +e\n(\nset -e\necho 1\n) </dev/null\npart_done one $?\n"
        "# --- part: files\nset +e\n(\nset -e\ncat\n)\npart_done files $?\n"
    )


@pytest.mark.realtool
@pytest.mark.parametrize("path", presets(), ids=lambda p: p.name)
def test_every_host_step_of_every_preset_passes_shellcheck(path: Path, tmp_path: Path) -> None:
    """What a host runs: each remote.Command's create and delete, parts combined, with the
    library files they source in place (render.scripts.inline)."""
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    graph = run_preset(path)
    texts: dict[str, str] = {}
    for reg in graph.of_type("command:remote:Command"):
        for key in ("create", "delete", "update"):
            text = reg.inputs.get(key)
            if isinstance(text, str) and text.strip() not in ("", "true"):
                texts.setdefault(inline(text), f"{reg.name}-{key}")
    assert len(texts) > 20
    for text, name in texts.items():
        (tmp_path / f"{name}.sh").write_text(text if text.startswith("#!") else "#!/bin/sh\n" + text)
    result = subprocess.run(
        ["shellcheck", "-s", "sh", *sorted(str(p) for p in tmp_path.glob("*.sh"))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[:6000]
