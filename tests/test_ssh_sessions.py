"""An operation's commands on one host share one SSH connection (a real sshd): a NodeHost runs a
dozen, and each handshake costs a round trip and a key exchange."""

from __future__ import annotations

from typing import Any

import pytest

from components import ssh
from components.ssh import Sessions, SshError, Target
from tests.sshd_fixture import LocalSshd, local_sshd  # noqa: F401  (fixture)


def test_one_connection_per_host_for_all_of_an_operations_commands(
    local_sshd: LocalSshd,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = Target.from_props(local_sshd.props())
    made: list[Target] = []
    real = ssh.connect

    def counting(t: Target, *args: Any) -> Any:
        made.append(t)
        return real(t, *args)

    monkeypatch.setattr(ssh, "connect", counting)
    with Sessions() as session:
        assert session.run(target, "echo one").stdout == "one\n"
        assert session.run(target, "cat", "from stdin").stdout == "from stdin"
        assert session.run(target, "exit 3").code == 3
        with pytest.raises(SshError, match=r"failed on 127\.0\.0\.1 \(exit 4\): why"):
            session.run_checked(target, "echo why >&2; exit 4", what="the step")
    assert made == [target]
    assert ssh.run(target, "echo alone").stdout == "alone\n"
    assert len(made) == 2
