"""Stand-ins for Host and Pki with the attributes the real components expose, so component tests
do not depend on how those components build them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pulumi
from pulumi_command import remote

from components.steps import HostSteps

CA_PEM = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n"
TOKEN_SECRET = "0123456789abcdef"
BOOTSTRAP_KUBECONFIG = f"kind: Config\nusers:\n- user:\n    token: abcdef.{TOKEN_SECRET}\n"
PROXY_KUBECONFIG = "kind: Config\nusers:\n- user:\n    client-key-data: UFJPWFktS0VZ\n"
APPROVER_KUBECONFIG = "kind: Config\nusers:\n- user:\n    client-key-data: QVBQUk9WRVItS0VZ\n"
SECRETS = (TOKEN_SECRET, "UFJPWFktS0VZ", "QVBQUk9WRVItS0VZ")


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
        bootstrap_kubeconfig=pulumi.Output.secret(BOOTSTRAP_KUBECONFIG),
        kube_proxy_kubeconfig=pulumi.Output.secret(PROXY_KUBECONFIG),
        csr_approver_kubeconfig=pulumi.Output.secret(APPROVER_KUBECONFIG),
        bootstrap_token_id=pulumi.Output.from_input("abcdef"),
        bootstrap_token_secret=pulumi.Output.secret(TOKEN_SECRET),
        admin_kubeconfig=pulumi.Output.secret("kind: Config\n"),
    )
