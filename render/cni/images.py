"""Image references rewritten to a mirror registry (`images.registry`, for air-gapped sites).

The mirror keeps each image's repository path and drops only the source registry host, the
layout `crane copy`/`skopeo copy` and pull-through caches produce:
  registry.k8s.io/coredns/coredns:v1.13.1 -> mirror.example:5000/k8s/coredns/coredns:v1.13.1
  weaveworks/weave-kube:2.8.1 (Docker Hub)  -> mirror.example:5000/k8s/weaveworks/weave-kube:2.8.1
Tags and digests are kept, so a faithfully mirrored image still matches its pinned digest.
"""

from __future__ import annotations

DOCKER_HUB_LIBRARY = "library"


def split_registry(image: str) -> tuple[str | None, str]:
    """(registry host or None for Docker Hub, repository path with tag/digest)."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    if not sep:  # "busybox:1.36" is docker.io/library/busybox
        return None, f"{DOCKER_HUB_LIBRARY}/{image}"
    return None, image


def mirror_image(image: str, registry: str | None) -> str:
    """`image` pulled from `registry` instead of its source; unchanged when registry is None."""
    if registry is None:
        return image
    _, path = split_registry(image)
    return f"{registry.rstrip('/')}/{path}"


def mirror_repository(repository: str, registry: str | None) -> str:
    """Like mirror_image for a repository without tag (Helm values' image.repository)."""
    return mirror_image(repository, registry)
