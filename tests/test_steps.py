"""components.steps under mocks: what a service step restarts on, and what the host's DriftGuard
is told to guard."""

from __future__ import annotations

import re

import pulumi
from pulumi_command import remote

from components.steps import HostSteps, ManagedFile, service_step
from mockrun.program import run_function
from render.host_files import FileMeta

CONFIG = FileMeta("/etc/demo/config")
TOKEN = FileMeta("/etc/demo/token", mode="0600")


def build(token: str) -> tuple[str, HostSteps]:
    """The create text of a service step reading a config and a transient token, and its host."""
    host = HostSteps(remote.ConnectionArgs(host="10.0.0.1", user="root"))

    def program() -> None:
        service_step(
            "demo",
            host,
            "demo.service",
            [
                ManagedFile(CONFIG, "a: 1\n"),
                ManagedFile(TOKEN, pulumi.Output.secret(token), secret=True, transient=True),
            ],
            service=lambda h: f"echo restart-hash={h}",
            stop="true",
            opts=pulumi.ResourceOptions(),
        )

    graph = run_function(program)
    (reg,) = graph.of_type("command:remote:Command")
    return str(reg.inputs["create"]), host


def restart_hash(create: str) -> str:
    found = re.search(r"restart-hash=([0-9a-f]{64})", create)
    assert found, create
    return found.group(1)


def test_a_transient_file_is_installed_but_neither_guarded_nor_a_restart_reason() -> None:
    first, host = build("abcdef.0123456789abcdef")
    second, _ = build("ghijkl.0123456789abcdef")
    # Both files are shipped and listed, so a preview shows the new token...
    assert f"# {TOKEN.path} " in first and f"# {CONFIG.path} " in first
    assert first != second
    # ...but only the config decides a restart, and only the config is guarded against drift.
    assert restart_hash(first) == restart_hash(second)
    assert [f.meta.path for f in host.files] == [CONFIG.path]
    assert host.readers == {CONFIG.path: ["demo.service"]}


def test_a_changed_kept_file_changes_the_restart_hash() -> None:
    host = HostSteps(remote.ConnectionArgs(host="10.0.0.1", user="root"))

    def program() -> None:
        for i, content in enumerate(("a: 1\n", "a: 2\n")):
            service_step(
                f"demo{i}",
                host,
                "demo.service",
                [ManagedFile(CONFIG, content)],
                service=lambda h: f"echo restart-hash={h}",
                stop="true",
                opts=pulumi.ResourceOptions(),
            )

    graph = run_function(program)
    hashes = [restart_hash(str(r.inputs["create"])) for r in graph.of_type("command:remote:Command")]
    assert len(set(hashes)) == 2
