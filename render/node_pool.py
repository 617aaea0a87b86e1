"""What a node pool's stack renders (spec/pool.py): each node's join, run on the node itself,
the command that forgets a node leaving the pool, and the `pool` output a cluster stack gives
its pools."""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from render import csr_policy as cp
from render import kubelet as kl
from render.scripts import TEMPLATES, script
from spec.model import NodeSpec

SERVING_CERT = f"{kl.CERT_DIR}/kubelet-server-current.pem"  # kubelet writes it once approved
JOIN_LIMIT_S = 300
FORGET_SCRIPT = TEMPLATES / "pool" / "forget_node.py"


def until_joined_script(node: NodeSpec) -> str:
    return script(
        "pool/until-joined.sh",
        NODE=node.name,
        CLIENT_CERT=kl.CLIENT_CERT,
        SERVING_CERT=SERVING_CERT,
        LIMIT=str(JOIN_LIMIT_S),
        EVERY=cp.APPROVE_EVERY,
        UNIT=kl.UNIT,
    )


def forget_node_command(node: NodeSpec, source: Path = FORGET_SCRIPT) -> str:
    """Run where `pulumi` runs (python3, the standard library only), the API's credentials on
    stdin (api_credentials): deletes node's Node object."""
    return shlex.join(["python3", "-c", source.read_text(), node.name])


def api_credentials(kubeconfig: str) -> str:
    """An admin kubeconfig (render/kubeconfig.py's form) as the JSON forget_node reads: the
    server, the CA, the client certificate and key, as PEM. Secret."""
    doc = yaml.safe_load(kubeconfig)
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]

    def pem(value: str) -> str:
        return base64.b64decode(value).decode()

    return json.dumps(
        {
            "server": cluster["server"],
            "ca": pem(cluster["certificate-authority-data"]),
            "cert": pem(user["client-certificate-data"]),
            "key": pem(user["client-key-data"]),
        }
    )


def pool_output(
    settings: Mapping[str, Any], ca_pem: str, kube_proxy_kubeconfig: str, admin_kubeconfig: str
) -> dict[str, Any]:
    """The cluster stack's `pool` output (secret): its settings (spec.pool.cluster_settings) and
    what a pool's workers and its Kubernetes provider use."""
    return {
        "settings": dict(settings),
        "caCert": ca_pem,
        "kubeProxyKubeconfig": kube_proxy_kubeconfig,
        "adminKubeconfig": admin_kubeconfig,
    }
