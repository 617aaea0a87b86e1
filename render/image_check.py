"""Before anything is scheduled, one node asks the registries whether they hold every image the
stack's own objects and the runtime use (render.images.stack_images). A missing image then stops
`pulumi up` at once, naming the image and the URL it was looked for at, instead of pods that sit
in ImagePullBackOff until a rollout times out."""

from __future__ import annotations

from render import registry
from render.cni.images import DOCKER_HUB_LIBRARY, split_registry
from render.images import stack_images
from render.scripts import script
from spec.model import ClusterSpec

DOCKER_HUB = "registry-1.docker.io"


def manifest_url(spec: ClusterSpec, image: str) -> str:
    """The registry API URL of an image's manifest (by tag, or by digest after '@')."""
    host, path = split_registry(image)
    if host is None:
        host = DOCKER_HUB
    if "@" in path:
        repository, reference = path.split("@", 1)
    else:
        repository, _, reference = path.rpartition(":")
        if not repository:  # no tag: the runtime pulls :latest
            repository, reference = path, "latest"
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"{DOCKER_HUB_LIBRARY}/{repository}"
    return f"{registry.server(spec, host)}/v2/{repository}/manifests/{reference}"


def check_input(spec: ClusterSpec) -> str:
    """The check script's stdin: one "<image> <manifest URL>" a line."""
    return "".join(f"{image} {manifest_url(spec, image)}\n" for image in stack_images(spec))


def check_script(node: str) -> str:
    return script("image-check/check.sh", NODE=node)
