"""How we reach a node: pulumi-command connection args built from the node's spec."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from spec.model import NodeSpec, SecretStr


def _secret(value: SecretStr | None) -> pulumi.Output[str] | None:
    return None if value is None else pulumi.Output.secret(value.reveal())


def connection(node: NodeSpec, private_key: pulumi.Input[str] | None = None) -> remote.ConnectionArgs:
    """SSH connection for a node; `private_key` overrides the spec's (the lab makes its own)."""
    ssh = node.ssh
    key = private_key if private_key is not None else _secret(ssh.private_key)
    proxy = None
    if ssh.bastion is not None:
        proxy = remote.ProxyConnectionArgs(
            host=ssh.bastion.host,
            port=ssh.bastion.port,
            user=ssh.bastion.user,
            private_key=_secret(ssh.bastion.private_key) or key,
        )
    return remote.ConnectionArgs(
        host=node.address,
        port=ssh.port,
        user=ssh.user,
        private_key=key,
        host_key=ssh.host_key,
        proxy=proxy,
        dial_error_limit=20,  # hosts may still be booting (lab) or rebooting
        per_dial_timeout=10,
    )
