"""Stand-ins for Host and Pki with the attributes the real components expose, so component tests
do not depend on how those components build them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pulumi
from pulumi_command import remote

from components.steps import HostSteps

CA_PEM = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n"
PROXY_KUBECONFIG = "kind: Config\nusers:\n- user:\n    client-key-data: UFJPWFktS0VZ\n"
APPROVER_KUBECONFIG = "kind: Config\nusers:\n- user:\n    client-key-data: QVBQUk9WRVItS0VZ\n"
SECRETS = ("UFJPWFktS0VZ", "QVBQUk9WRVItS0VZ")


class FakeHost(pulumi.ComponentResource):
    """What components.host.Host exposes (components.host.PreparedHost): `.steps` and `.ready`."""

    def __init__(self, name: str, address: str) -> None:
        super().__init__("test:index:Host", name, None, None)
        connection = remote.ConnectionArgs(
            host=address, user="root", private_key=pulumi.Output.secret("ssh-key")
        )
        self.steps = HostSteps(connection)
        self.ready = remote.Command(
            f"{name}-ready",
            connection=connection,
            create="true",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


def fake_pki() -> Any:
    return SimpleNamespace(
        ca=SimpleNamespace(cert_pem=pulumi.Output.from_input(CA_PEM)),
        kube_proxy_kubeconfig=pulumi.Output.secret(PROXY_KUBECONFIG),
        csr_approver_kubeconfig=pulumi.Output.secret(APPROVER_KUBECONFIG),
        admin_kubeconfig=pulumi.Output.secret("kind: Config\n"),
    )
