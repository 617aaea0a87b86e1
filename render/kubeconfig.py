"""Kubeconfig files as data (clientcmd v1 Config), dumped with yaml.safe_dump.

Certificates and keys are embedded (`*-data`, base64 of the PEM) so a kubeconfig is one file
that can be written atomically; the result holds a private key or token and is always secret.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, ParamSpec

from render import yaml_dump

P = ParamSpec("P")


def _b64(pem: str) -> str:
    return base64.b64encode(pem.encode()).decode()


def kubeconfig_dict(
    cluster_name: str,
    server: str,
    ca_pem: str,
    user: str,
    *,
    client_cert_pem: str | None = None,
    client_key_pem: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """One cluster, one user, one context that is current: what every component needs."""
    if (token is None) == (client_cert_pem is None or client_key_pem is None):
        raise ValueError("a kubeconfig user needs either a client certificate and key or a token")
    credentials: dict[str, str]
    if token is not None:
        credentials = {"token": token}
    else:
        assert client_cert_pem is not None and client_key_pem is not None
        credentials = {
            "client-certificate-data": _b64(client_cert_pem),
            "client-key-data": _b64(client_key_pem),
        }
    context = f"{user}@{cluster_name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def _as_yaml(build: Callable[P, dict[str, Any]]) -> Callable[P, str]:
    def render(*args: P.args, **kwargs: P.kwargs) -> str:
        return yaml_dump.dump(build(*args, **kwargs), sort_keys=False, default_flow_style=False)

    return render


# kubeconfig_dict's document as the text of a kubeconfig file (same arguments).
render_kubeconfig = _as_yaml(kubeconfig_dict)
