"""Every container image a stack's nodes pull, as they pull it (`images.registry` applied): what an
air-gapped site must put into its registry (docs/air-gapped.md), and the registry scopes they come
from: what CRI-O's image policy accepts (render/runtime.py crio_policy).

    python -m render.images Pulumi.<stack>.yaml      # one reference a line

The CNIs installed from an upstream chart or release manifest (calico, cilium, canal, weave) bring
images that only their chart or manifest names; for those a line says where to read them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from render import addons
from render.cni import flannel
from render.cni.images import DOCKER_HUB_LIBRARY, mirror_image, split_registry
from spec import defaults as d
from spec import load_spec
from spec.model import ClusterSpec
from spec.stack_file import read_stack_file

DEFAULT_REGISTRY = "registry.k8s.io"
# How image references name Docker Hub once normalized (`weaveworks/weave-kube` is
# docker.io/weaveworks/weave-kube): what image policies match.
DOCKER_HUB_NAME = "docker.io"

# Where the images of the CNIs we do not render are listed.
UPSTREAM_LISTED = {
    "calico": "the tigera-operator chart and its Installation (helm template)",
    "cilium": "the cilium chart (helm template)",
    "canal": "calico's canal.yaml of the pinned version",
    "weave": "weave's release manifest of the pinned version",
}
# The repositories those charts and manifests pull from, as registry scopes (no mirror). Calico
# publishes every image both as quay.io/calico/* and docker.io/calico/*: its manifests name the
# one, the operator's default registry the other. The chart's operator is quay.io/tigera/operator;
# canal's flannel is docker.io/flannel/flannel; every Cilium image lives under quay.io/cilium.
UPSTREAM_SCOPES: dict[str, tuple[str, ...]] = {
    "calico": ("quay.io/tigera/operator", "quay.io/calico", "docker.io/calico"),
    "canal": ("quay.io/calico", "docker.io/calico", "docker.io/flannel/flannel"),
    "cilium": ("quay.io/cilium",),
    "weave": ("docker.io/weaveworks/weave-kube", "docker.io/weaveworks/weave-npc"),
}


def pause_image(spec: ClusterSpec) -> str:
    """The sandbox (pause) image, pinned; `images.registry` moves it to a mirror."""
    registry = (spec.images.registry or DEFAULT_REGISTRY).rstrip("/")
    return f"{registry}/pause:{spec.versions.pause}"


def stack_images(spec: ClusterSpec) -> list[str]:
    """The images our own objects and the runtime name, in the order nodes need them."""
    out = [pause_image(spec)]
    if spec.cni.name == "flannel":
        out += flannel.images(spec)
    if spec.addons.coredns:
        out.append(addons.coredns_image(spec))
    if spec.addons.smoke_test:
        out.append(mirror_image(d.SMOKE_TEST_IMAGE, spec.images.registry))
    return out


def repository(image: str) -> str:
    """An image's repository as image policies match it: host included (Docker Hub's spelled
    docker.io, its official images under library/), no tag, no digest."""
    host, path = split_registry(image)
    if host in (None, "index.docker.io"):
        host = DOCKER_HUB_NAME
    path = path.split("@", 1)[0]
    name, _, last = path.rpartition("/")
    last = last.split(":", 1)[0]  # without a registry host in front, ':' can only start a tag
    if host == DOCKER_HUB_NAME and not name:
        name = DOCKER_HUB_LIBRARY
    return f"{host}/{name + '/' if name else ''}{last}"


def pull_scopes(spec: ClusterSpec) -> list[str]:
    """Where the cluster's own images come from, as registry scopes (containers-policy.json(5)):
    the mirror when `images.registry` is set (every image is rewritten to it, the CNIs' too),
    else each repository our objects and the runtime name and those of the upstream CNI."""
    if spec.images.registry:
        return [spec.images.registry.rstrip("/")]
    scopes = [repository(image) for image in stack_images(spec)]
    scopes += UPSTREAM_SCOPES.get(spec.cni.name, ())
    return sorted(set(scopes))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m render.images Pulumi.<stack>.yaml", file=sys.stderr)
        return 2
    raw, stack = read_stack_file(Path(args[0]))
    # The images do not depend on secrets: validate without the SSH key a real stack keeps secret.
    raw["ssh"] = {**(raw.get("ssh") or {}), "privateKey": "not needed to list images"}
    spec, _ = load_spec(raw, stack, frozenset({"ssh"}))
    for image in stack_images(spec):
        print(image)
    if spec.cni.name in UPSTREAM_LISTED:
        print(f"# and the images of {UPSTREAM_LISTED[spec.cni.name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
