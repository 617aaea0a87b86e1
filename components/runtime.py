"""`Runtime`: the container runtime of one kubelet node (containerd or CRI-O), exclusive on its host."""

from __future__ import annotations

from typing import Any

import pulumi

from components import type_token
from components.steps import ManagedFile, content_hash, files_step, script_step
from render import runtime as rt
from spec.model import ClusterSpec, NodeSpec


class Runtime(pulumi.ComponentResource):
    """Children, in order: preflight (refuses beside another runtime) -> config files -> service.

    `ready` is the service step: it finishes only when the runtime answers on its CRI socket.
    `socket` / `endpoint` name that socket for kubelet and crictl.
    """

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        node: NodeSpec,
        host: Any,  # components.host_prep.Host: `.ready`, `.connection`
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Runtime"), name, None, opts)
        info = rt.runtime_info(spec)
        connection = host.connection

        # The Host step installed the binaries this checks for.
        preflight = script_step(
            f"{name}-preflight",
            connection,
            create=rt.preflight_script(spec, node.name),
            delete="true",  # it only reads the host
            opts=pulumi.ResourceOptions(parent=self, depends_on=[host.ready]),
        )
        files = [ManagedFile(f.meta, f.content) for f in rt.runtime_files(spec)]
        # Never write a config over another runtime's: only after the preflight passed.
        config = files_step(
            f"{name}-config",
            connection,
            files,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[preflight]),
            dirs=rt.runtime_dirs(spec),
        )
        service = script_step(
            f"{name}-service",
            connection,
            create=content_hash(files).apply(lambda h: rt.service_script(spec, h)),
            delete=rt.stop_script(spec),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config]),
        )

        self.ready: pulumi.Resource = service
        self.socket: str = info.socket
        self.endpoint: str = info.endpoint
        self.runtime_name: str = info.name
        handlers = ["runc", rt.KATA_HANDLER] if spec.runtime.kata else ["runc"]
        self.register_outputs(
            {
                "runtime": info.name,
                "socket": info.socket,
                "handlers": handlers,
                "pauseImage": rt.pause_image(spec),
            }
        )
