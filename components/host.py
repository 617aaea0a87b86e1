"""`Host`: one node prepared for its roles, and how its steps reach it over SSH."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pulumi
from pulumi_command import remote

from components import inherited_depends_on, type_token
from components.host_lib import HostLib
from components.steps import HostSteps, ManagedFile, script_step
from render import artifacts, host_prep
from spec.model import ClusterSpec, NodeSpec, SecretStr


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


class PreparedHost(Protocol):
    """What the components that run services need of a Host."""

    @property
    def steps(self) -> HostSteps: ...

    @property
    def ready(self) -> pulumi.Resource: ...


@dataclass(frozen=True)
class NodeSite:
    """Where a node's component runs: the cluster's spec, the node's, and its prepared host."""

    spec: ClusterSpec
    node: NodeSpec
    host: PreparedHost

    def require(self, holds: bool, what: str) -> None:
        """A component built on the wrong node is a programming error: say which."""
        if not holds:
            raise ValueError(f"node {self.node.name} {what}")


class Host(pulumi.ComponentResource):
    """Children, in order: `lib` (the host's script library, which every step sources:
    components/host_lib.py) -> `prepare` (preflight, packages, kernel files and settings, swap,
    cmdline, iptables, SELinux, firewall, time sync: render.host_prep.prepare_step) -> `binaries`
    (every pinned artifact the node's roles need). `ready` is the component: all three. `steps`
    is how every component's steps on this node reach it (and what they put there).

    Two steps rather than one per script: each step is a resource the engine evaluates, and large
    stacks pay for every one (bench/README.md); a preview still names the changed part."""

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        node: NodeSpec,
        connection: remote.ConnectionArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Host"), name, None, opts)
        self.node = node
        self.steps = HostSteps(connection)

        kernel_files = [ManagedFile(meta, content) for meta, content in host_prep.kernel_files(spec, node)]
        # The library alone waits for what the Host waits for (the lab's hosts booting); every
        # step of the host comes after it (the others through `ready`), so destroy removes it
        # last. `binaries` waits for `prepare`: downloading needs curl/wget and tar from the
        # packages, and a host that failed its preflight gets nothing.
        lib = HostLib(
            f"{name}-lib",
            connection,
            pulumi.ResourceOptions(parent=self, depends_on=inherited_depends_on(opts)),
        )
        self.steps.created.append(lib)
        after: list[pulumi.Resource] = [lib]
        for part, rendered, files in (
            ("prepare", host_prep.prepare_step(spec, node, f"{name}-prepare"), kernel_files),
            ("binaries", artifacts.binaries_step(spec, node, f"{name}-binaries"), []),
        ):
            step = script_step(
                f"{name}-{part}",
                self.steps,
                create=rendered.create,
                delete=rendered.delete,
                stdin=rendered.stdin,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
                files=files,
            )
            after = [step]
        # Depending on the component waits for every child: prepared OS and installed binaries.
        self.ready: pulumi.Resource = self
        self.register_outputs(
            {"node": node.name, "artifacts": [a.key for a in artifacts.node_artifacts(spec, node)]}
        )
