"""A NodeHost's API side, run on a control-plane host over SSH with the CSR approver's credentials.

A worker's NodeHost (components/node_host.py) keeps no secret in the stack's state: its bootstrap
token is made when the node needs one (created, or not joined yet), goes to the node and to the
API, and is never stored. The API objects are made through the approver's kubeconfig on a
control plane (render/bootstrap.py, csr_approver_rbac: it may create Secrets in kube-system, not
read them, and manage the allow lists in its own namespace), so the program needs no credential
of the cluster where it runs. The token expires TOKEN_TTL_HOURS after it was made.
"""

from __future__ import annotations

import json
import secrets
import shlex
import string
from dataclasses import dataclass

from render import bootstrap as bs
from render import csr_policy as cp
from render import kube_proxy as kp
from render import kubelet as kl
from render.common import BIN_DIR
from render.kubeconfig import render_kubeconfig
from spec.model import ClusterSpec, NodeSpec

KUBECTL = f"{BIN_DIR}/kubectl --kubeconfig {cp.APPROVER_KUBECONFIG}"
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Token:
    token_id: str
    secret: str
    expiration: str  # RFC 3339

    @property
    def value(self) -> str:
        return f"{self.token_id}.{self.secret}"


def new_token(issued_epoch: int) -> Token:
    """A bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) from the system's CSPRNG."""
    value = "".join(secrets.choice(_ALPHABET) for _ in range(bs.TOKEN_ID_LENGTH + bs.TOKEN_SECRET_LENGTH))
    token_id, secret = bs.split_token(value)
    return Token(token_id, secret, bs.token_expiration(str(issued_epoch)))


@dataclass(frozen=True)
class Remote:
    """A command for a host, and what it reads on stdin (secrets travel there only)."""

    command: str
    stdin: str = ""


def issue(node: NodeSpec, token: Token) -> list[Remote]:
    """On the approver host: the token's Secret, then the node's allow list naming it."""
    secret = bs.bootstrap_token_secret(node.name, token.token_id, token.secret, token.expiration)
    return [
        Remote(f"{KUBECTL} create -f -", json.dumps(secret)),
        Remote(f"{KUBECTL} apply -f -", json.dumps(cp.allow_configmap(node, token.token_id))),
    ]


def bootstrap_kubeconfig(spec: ClusterSpec, ca_pem: str, token: Token) -> str:
    return render_kubeconfig(spec.cluster_name, spec.api_endpoint.url, ca_pem, bs.USER, token=token.value)


def forget(node: NodeSpec) -> list[Remote]:
    """On the approver host, when the node leaves: its Node object and its allow list."""
    name = cp.allow_configmap(node, "")["metadata"]["name"]
    return [
        Remote(cp.forget_node_command(node)),
        Remote(f"{KUBECTL} -n {cp.ALLOW_NAMESPACE} delete configmap {shlex.quote(name)} --ignore-not-found"),
    ]


def until_joined(node: NodeSpec) -> Remote:
    """On the approver host: approve until the node's kubelet serves a certificate of ours."""
    return Remote(cp.until_serving_command(node))


JOINED = "joined"


def joined_probe() -> str:
    """On the node: `joined` once kubelet has its client certificate."""
    return f"if [ -s {kl.CLIENT_CERT} ]; then echo {JOINED}; else echo new; fi\n"


def kube_proxy_kubeconfig() -> str:
    """On a control-plane host: kube-proxy's kubeconfig, which every kubelet node has."""
    return f"cat {kp.KUBECONFIG}\n"
