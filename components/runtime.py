"""`Runtime`: the container runtime of one kubelet node (containerd or CRI-O), exclusive on its host."""

from __future__ import annotations

import pulumi

from components import type_token
from components.host import NodeSite
from components.steps import ManagedFile, paths, service_step
from render import runtime as rt
from render.script_parts import Part


class Runtime(pulumi.ComponentResource):
    """One child, `service`: preflight (refuses beside another runtime), config files, service.

    `ready` is that step: it finishes only when the runtime answers on its CRI socket.
    """

    def __init__(
        self,
        name: str,
        site: NodeSite,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Runtime"), name, None, opts)
        spec, node, host = site.spec, site.node, site.host
        info = rt.runtime_info(spec)

        files = [ManagedFile(f.meta, f.content) for f in rt.runtime_files(spec)]
        # The preflight (refuses beside another runtime) runs first: never write a config over
        # another runtime's. The Host installed the binaries it checks for.
        service = service_step(
            f"{name}-service",
            host.steps,
            info.unit,
            files,
            service=lambda h: rt.service_script(spec, h, paths(files)),
            stop=rt.stop_script(spec),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[host.ready]),
            dirs=rt.runtime_dirs(spec),
            before=[Part("preflight", rt.preflight_script(spec, node.name))],
        )

        self.ready: pulumi.Resource = service
        handlers = ["runc", rt.KATA_HANDLER] if spec.runtime.kata else ["runc"]
        self.register_outputs(
            {
                "runtime": info.name,
                "socket": info.socket,
                "handlers": handlers,
                "pauseImage": rt.pause_image(spec),
            }
        )
