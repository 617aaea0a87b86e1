"""Every container image a stack's nodes pull, as they pull it (`images.registry` applied): what an
air-gapped site must put into its registry (docs/air-gapped.md).

    python -m render.images Pulumi.<stack>.yaml      # one reference a line

The CNIs installed from an upstream chart or release manifest (calico, cilium, canal, weave) bring
images that only their chart or manifest names; for those a line says where to read them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from render import addons, runtime
from render.cni import flannel
from render.cni.images import mirror_image
from spec import defaults as d
from spec import load_spec
from spec.model import ClusterSpec
from spec.stack_file import read_stack_file

# Where the images of the CNIs we do not render are listed.
UPSTREAM_LISTED = {
    "calico": "the tigera-operator chart and its Installation (helm template)",
    "cilium": "the cilium chart (helm template)",
    "canal": "calico's canal.yaml of the pinned version",
    "weave": "weave's release manifest of the pinned version",
}


def stack_images(spec: ClusterSpec) -> list[str]:
    """The images our own objects and the runtime name, in the order nodes need them."""
    out = [runtime.pause_image(spec)]
    if spec.cni.name == "flannel":
        out += flannel.images(spec)
    if spec.addons.coredns:
        out.append(addons.coredns_image(spec))
    if spec.addons.smoke_test:
        out.append(mirror_image(d.SMOKE_TEST_IMAGE, spec.images.registry))
    return out


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
