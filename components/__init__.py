"""Thin ComponentResources that wire rendered content to hosts and the cluster."""

TYPE_PREFIX = "k8s-from-scratch:index"


def type_token(name: str) -> str:
    return f"{TYPE_PREFIX}:{name}"
