"""The local lab: when `lab.enabled`, the stack makes its own hosts on this Linux machine.

Each host is a Debian machine booted with `systemd-nspawn -b` in its own network namespace on a
private bridge (lab/lab.sh); a local HTTP mirror on the bridge serves the binaries (lab/mirror.py)
and, when the stack's `images.registry` is the lab's, a registry serves the images built by
toolchain/images.sh. Everything is a `pulumi_command.local.Command` whose delete undoes its
create, so `pulumi destroy` removes the hosts, the mirror, the registry and the bridge.
"""

from __future__ import annotations

import ipaddress
import shlex
from functools import partial
from pathlib import Path

import pulumi
import pulumi_tls as tls
from pulumi_command import local

from components import type_token
from lab.mirror import gateway, mirror_dir, mirror_url, registry_address
from render.registry import registry_host
from spec.model import ClusterSpec

REPO = Path(__file__).resolve().parents[1]
LAB_SH = "lab/lab.sh"  # relative to REPO, the commands' working directory


def lab_environment(spec: ClusterSpec) -> dict[str, str]:
    """lab.sh's settings for this stack (also used by its deletes, which run with the same env)."""
    lab = spec.lab
    prefix = ipaddress.ip_network(lab.subnet, strict=False).prefixlen
    return {
        "K8SFS_LAB_WORK_DIR": lab.work_dir,
        "K8SFS_LAB_GATEWAY": f"{gateway(lab.subnet)}/{prefix}",
        "K8SFS_LAB_RELEASE": lab.release,
    }


def _create_command(host: str, address: str, public_key: str) -> str:
    return f"{LAB_SH} create {host} {address} {shlex.quote(public_key.strip())}"


class Lab(pulumi.ComponentResource):
    """Exposes `private_key` (secret: logs into every lab host as root), `hosts_ready` (depend on
    these before connecting to a host or downloading from the mirror), `mirror_url` (the
    binaries.baseUrl the hosts use) and `host_keys` (node name -> its SSH ed25519 host key)."""

    private_key: pulumi.Output[str] | None
    hosts_ready: list[pulumi.Resource]
    mirror_url: str | None
    host_keys: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("Lab"), name, None, opts)
        self.private_key = None
        self.hosts_ready = []
        self.mirror_url = None
        self.host_keys = {}
        if not spec.lab.enabled:
            self.register_outputs({})
            return
        child = pulumi.ResourceOptions(parent=self)
        env = lab_environment(spec)

        key = tls.PrivateKey(f"{name}-ssh-key", algorithm="ED25519", opts=child)
        self.private_key = pulumi.Output.secret(key.private_key_openssh)

        network = self._command(
            f"{name}-network", f"{LAB_SH} network-up", f"{LAB_SH} network-down", env, child
        )
        # The bridge carries the mirror's address and every host's veth.
        after_network = pulumi.ResourceOptions(parent=self, depends_on=[network])
        served = mirror_dir(spec)
        mirror = self._command(
            f"{name}-mirror",
            f"{LAB_SH} mirror-start {shlex.quote(str(served))}",
            f"{LAB_SH} mirror-stop",
            env,
            after_network,
        )
        self.mirror_url = mirror_url(spec)
        ready: list[pulumi.Resource] = [mirror]
        if registry_host(spec) == registry_address(spec):
            # The stack pulls its images from the lab's registry: start it and push the images
            # toolchain/images.sh built (by digest; a push of what is there already is a no-op).
            address = registry_address(spec)
            ready.append(
                self._command(
                    f"{name}-registry",
                    f'{LAB_SH} registry-start "$(toolchain/images.sh registry-dir)" >/dev/null'
                    f" && toolchain/images.sh push {address}",
                    f"{LAB_SH} registry-stop",
                    env,
                    after_network,
                )
            )

        hosts: list[local.Command] = []
        for node in spec.nodes:
            create = key.public_key_openssh.apply(partial(_create_command, node.name, node.address))
            host = self._command(
                f"{name}-host-{node.name}",
                create,
                f"{LAB_SH} destroy {node.name}",
                env,
                # Same name, same host: a replacement must remove the old one before making the new.
                pulumi.ResourceOptions.merge(
                    after_network, pulumi.ResourceOptions(delete_before_replace=True)
                ),
            )
            hosts.append(host)
            # create prints the host's SSH host key as its last line.
            self.host_keys[node.name] = host.stdout.apply(
                lambda out: out.strip().splitlines()[-1] if out else ""
            )
        self.hosts_ready = [*hosts, *ready]
        self.register_outputs(
            {
                "mirrorUrl": self.mirror_url,
                "hosts": [n.name for n in spec.nodes],
                "hostKeys": self.host_keys,
            }
        )

    @staticmethod
    def _command(
        name: str,
        create: pulumi.Input[str],
        delete: str,
        env: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> local.Command:
        return local.Command(
            name,
            create=create,
            delete=delete,
            environment=env,
            dir=str(REPO),
            add_previous_output_in_env=False,
            logging=local.Logging.STDOUT_AND_STDERR,
            opts=opts,
        )
