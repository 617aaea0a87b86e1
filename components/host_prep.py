"""`Host`: one node prepared for its roles: preflight, OS settings and the pinned binaries."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from components import inherited_depends_on, type_token
from components.steps import ManagedFile, files_step, script_step
from render import artifacts, host_prep
from spec.model import ClusterSpec, NodeSpec


class Host(pulumi.ComponentResource):
    """Children, in order: preflight -> packages -> kernel files/settings, swap, cmdline, iptables,
    selinux, firewall, timesync -> one step per binary artifact. `ready` depends on all of them."""

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        node: NodeSpec,
        connection: remote.ConnectionArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Host"), name, None, opts)
        # Refuse before any child exists: a binary without a pinned checksum is never installed.
        # (The Cluster checked every node already; this node alone keeps the check linear.)
        artifacts.require_checksums(spec, (node,))
        self.node = node
        self.connection = connection

        # Everything else follows the preflight, so it alone waits for what the Host waits for
        # (the lab's hosts booting).
        preflight = script_step(
            f"{name}-preflight",
            connection,
            create=host_prep.preflight_script(spec, node),
            delete="true",  # it only reads the host
            opts=pulumi.ResourceOptions(parent=self, depends_on=inherited_depends_on(opts)),
        )
        # Nothing changes on a host that failed its preflight.
        after_preflight = pulumi.ResourceOptions(parent=self, depends_on=[preflight])
        steps = host_prep.host_steps(spec, node)
        packages_step = steps[0]
        packages = script_step(
            f"{name}-{packages_step.part}",
            connection,
            create=packages_step.create,
            delete=packages_step.delete,
            opts=after_preflight,
        )
        # Everything else needs the OS packages (modprobe, sysctl, curl, tar, conntrack).
        after_packages = pulumi.ResourceOptions(parent=self, depends_on=[packages])
        prepared: list[pulumi.Resource] = [packages]
        kernel_files = host_prep.kernel_files(spec, node)
        kernel_files_step: pulumi.Resource | None = None
        if kernel_files:
            kernel_files_step = files_step(
                f"{name}-kernel-files",
                connection,
                [ManagedFile(meta, content) for meta, content in kernel_files],
                opts=after_packages,
            )
            prepared.append(kernel_files_step)
        for step in steps[1:]:
            deps: list[pulumi.Resource] = [packages]
            if step.part == "kernel" and kernel_files_step is not None:
                deps.append(kernel_files_step)  # apply what the persisted files say
            prepared.append(
                script_step(
                    f"{name}-{step.part}",
                    connection,
                    create=step.create,
                    delete=step.delete,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
                )
            )

        self.binaries: list[pulumi.Resource] = []
        for artifact in artifacts.node_artifacts(spec, node):
            self.binaries.append(
                script_step(
                    f"{name}-bin-{artifact.name}",
                    connection,
                    create=artifacts.install_script(spec, artifact),
                    delete=artifacts.remove_script(artifact),
                    opts=after_packages,  # curl/wget and tar come with the packages
                )
            )
        self.steps: list[pulumi.Resource] = [preflight, *prepared, *self.binaries]
        # Depending on the component waits for every child: prepared OS and installed binaries.
        self.ready: pulumi.Resource = self
        self.register_outputs(
            {"node": node.name, "artifacts": [a.key for a in artifacts.node_artifacts(spec, node)]}
        )
