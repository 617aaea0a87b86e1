"""The registry nodes pull images from when `images.registry` is set, and how every registry is
reached: decided once here for the runtime's registry configs and the image check."""

from __future__ import annotations

from spec.model import ClusterSpec


def registry_host(spec: ClusterSpec) -> str | None:
    """host[:port] of `images.registry` (its path is part of every image name, not of the host)."""
    registry = spec.images.registry
    return registry.split("/", 1)[0] if registry else None


def server(spec: ClusterSpec, host: str) -> str:
    """scheme://host of a registry: plain HTTP only for `images.registry` with `plainHttp` (it
    speaks of that registry alone; upstream registries are HTTPS)."""
    plain = spec.images.plain_http and host == registry_host(spec)
    return f"{'http' if plain else 'https'}://{host}"
