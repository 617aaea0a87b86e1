"""`Host`: one node prepared for its roles: preflight, OS settings and the pinned binaries."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from components import inherited_depends_on, type_token
from components.steps import ManagedFile, script_step
from render import artifacts, host_prep
from spec.model import ClusterSpec, NodeSpec


class Host(pulumi.ComponentResource):
    """Children, in order: `prepare` (preflight, packages, kernel files and settings, swap,
    cmdline, iptables, SELinux, firewall, time sync: render.host_prep.prepare_step) -> `binaries`
    (every pinned artifact the node's roles need). `ready` is the component: both steps.

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
        self.connection = connection

        # It alone waits for what the Host waits for (the lab's hosts booting).
        prepare = host_prep.prepare_step(spec, node, f"{name}-prepare")
        self.prepare = script_step(
            f"{name}-prepare",
            connection,
            create=prepare.create,
            delete=prepare.delete,
            stdin=prepare.stdin,
            opts=pulumi.ResourceOptions(parent=self, depends_on=inherited_depends_on(opts)),
            files=[ManagedFile(meta, content) for meta, content in host_prep.kernel_files(spec, node)],
        )
        binaries = artifacts.binaries_step(spec, node, f"{name}-binaries")
        self.binaries = script_step(
            f"{name}-binaries",
            connection,
            create=binaries.create,
            delete=binaries.delete,
            # Downloading needs curl/wget and tar from the packages; a host that failed its
            # preflight gets nothing.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.prepare]),
        )
        self.steps: list[pulumi.Resource] = [self.prepare, self.binaries]
        # Depending on the component waits for every child: prepared OS and installed binaries.
        self.ready: pulumi.Resource = self
        self.register_outputs(
            {"node": node.name, "artifacts": [a.key for a in artifacts.node_artifacts(spec, node)]}
        )
